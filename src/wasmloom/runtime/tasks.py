"""Tasks, subtasks, threads and the store's scheduler.

Follows the spec's ``Task``, ``Subtask``, ``Thread`` and ``Store.tick``.

A :class:`Thread` is either *running* (its code is on the native stack),
*waiting* (it sits in the scheduler's ``waiting`` list with a ``ready_func``
predicate) or *suspended* (neither). A waiting thread is resumed in one of two
ways:

- through its continuation ``cont(cancelled)``, a Python callable that carries
  on where it stopped (a callback-ABI task between two callback calls, a task
  queued behind backpressure): nothing of it is on the native stack;
- or, when it blocked in the middle of core code (a blocking built-in), by
  setting its ``wake`` result, which the blocking built-in is looping on
  (:meth:`Thread.wait_until` runs other ready threads meanwhile).

:class:`Scheduler` holds the ``waiting`` list of one store and resumes ready
threads in FIFO order. When nothing is ready and the caller still waits,
it traps with Wasmtime's 'deadlock detected' message.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from enum import Enum, IntEnum
from typing import Any

from wasmloom.errors import Trap
from wasmloom.runtime.handles import BorrowScope, Table
from wasmloom.runtime.waitables import EventCode, EventTuple, Waitable

__all__ = [
    "BLOCKED",
    "CANCELLED",
    "DEADLOCK",
    "CallbackCode",
    "InstanceState",
    "Scheduler",
    "Subtask",
    "SubtaskState",
    "Task",
    "TaskState",
    "Thread",
    "instance_state",
    "scheduler_of",
]

BLOCKED = 0xFFFF_FFFF
DEADLOCK = "deadlock detected: event loop cannot make further progress"
SYNC_BLOCK = "cannot block a synchronous task before returning"


class _Cancelled:
    """The result ``on_resolve`` receives when a task resolved by cancellation."""

    def __repr__(self) -> str:
        return "CANCELLED"


CANCELLED: Any = _Cancelled()


class CallbackCode(IntEnum):
    EXIT = 0
    YIELD = 1
    WAIT = 2


def unpack_callback_result(packed: int) -> tuple[CallbackCode, int]:
    code = packed & 0xF
    if code > CallbackCode.WAIT:
        raise Trap("unsupported callback code")
    return CallbackCode(code), (packed & 0xFFFF_FFFF) >> 4


# --- the scheduler ------------------------------------------------------------------


class Scheduler:
    """The waiting threads of one store and the thread currently running."""

    __slots__ = ("__weakref__", "current", "waiting")

    def __init__(self) -> None:
        self.waiting: list[Thread] = []
        self.current: Thread | None = None

    def tick(self) -> bool:
        """Resume the first ready waiting thread; ``False`` if none is ready."""
        for t in self.waiting:
            rf = t.ready_func
            if rf is not None and rf():
                t.resume()
                return True
        return False

    def run_until(self, done: Callable[[], bool]) -> None:
        """Run ready threads until ``done()``; trap on deadlock."""
        while not done():
            if not self.tick():
                raise Trap(DEADLOCK)


_SCHEDULERS: weakref.WeakKeyDictionary[Any, Scheduler] = weakref.WeakKeyDictionary()


def scheduler_of(core_store: Any) -> Scheduler:
    """The scheduler of a :class:`wasmloom.core.CoreStore` (created on first use)."""
    key = core_store.wasmtime
    s = _SCHEDULERS.get(key)
    if s is None:
        s = _SCHEDULERS[key] = Scheduler()
    return s


class InstanceState:
    """The async state of one component instance (the spec's ``ComponentInstance`` fields)."""

    __slots__ = (
        "backpressure",
        "exclusive_thread",
        "num_waiting_to_enter",
        "sched",
        "sync_storage",
        "threads",
    )

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.threads: Table[Thread] = Table()
        self.backpressure = 0
        self.num_waiting_to_enter = 0
        self.exclusive_thread: Thread | None = None
        self.sync_storage = [0, 0]


def instance_state(inst: Any) -> InstanceState:
    """The :class:`InstanceState` of a component instance (created on first use)."""
    st = inst.conc
    if st is None:
        st = inst.conc = InstanceState(scheduler_of(inst.store))
    return st  # type: ignore[no-any-return]


# --- threads ---------------------------------------------------------------------------


class Thread:
    """A thread of a task (see the module docstring for its states)."""

    __slots__ = (
        "cancellable",
        "cont",
        "index",
        "native",
        "ready_func",
        "sched",
        "storage",
        "task",
        "wake",
    )

    def __init__(self, task: Task, cont: Callable[[bool], None] | None) -> None:
        self.task = task
        self.sched = task.istate.sched
        self.cont = cont
        self.ready_func: Callable[[], bool] | None = None
        self.cancellable = False
        self.index: int | None = None
        self.storage = [0, 0]
        self.native = False
        self.wake: bool | None = None

    def waiting(self) -> bool:
        return self.ready_func is not None

    def suspended(self) -> bool:
        return self.ready_func is None and (self.cont is not None or self.native)

    def ready(self) -> bool:
        rf = self.ready_func
        return rf is not None and rf()

    def start_waiting(
        self, ready: Callable[[], bool], cont: Callable[[bool], None] | None, cancellable: bool
    ) -> None:
        assert self.ready_func is None
        self.ready_func = ready
        self.cont = cont
        self.cancellable = cancellable
        self.sched.waiting.append(self)

    def resume_later(self) -> None:
        self.start_waiting(_always, self.cont, self.cancellable)

    def resume(self, cancelled: bool = False) -> None:
        """Resume this waiting or suspended thread (``cancelled``: deliver cancellation)."""
        if self.ready_func is not None:
            self.ready_func = None
            self.sched.waiting.remove(self)
        if self.native:
            self.wake = cancelled
            return
        cont = self.cont
        self.cont = None
        assert cont is not None
        sched = self.sched
        prev = sched.current
        sched.current = self
        try:
            cont(cancelled)
        finally:
            sched.current = prev

    def wait_until(self, ready: Callable[[], bool], cancellable: bool = False) -> bool:
        """Block the running thread (inside core code) until ``ready()``; return ``cancelled``."""
        task = self.task
        if task.deliver_pending_cancel(cancellable):
            return True
        if ready():
            return False
        if not task.may_block():
            raise Trap(SYNC_BLOCK)
        return self.block_native(ready, cancellable)

    def block_native(self, ready: Callable[[], bool], cancellable: bool) -> bool:
        """Wait in place, running other ready threads, until resumed."""
        self.native = True
        self.wake = None
        self.start_waiting(ready, None, cancellable)
        sched = self.sched
        try:
            while self.wake is None:
                if not sched.tick():
                    raise Trap(DEADLOCK)
        finally:
            if self.ready_func is not None:
                self.ready_func = None
                sched.waiting.remove(self)
            self.native = False
            sched.current = self
        cancelled = self.wake
        self.wake = None
        return bool(cancelled)

    def yield_(self, cancellable: bool) -> bool:
        """Let every other ready thread run once (``thread.yield``)."""
        task = self.task
        if task.deliver_pending_cancel(cancellable):
            return True
        if not task.may_block():
            return False
        sched = self.sched
        others = [t for t in sched.waiting if t is not self]
        for t in others:
            if t.ready_func is not None and t in sched.waiting and t.ready():
                t.resume()
                sched.current = self
        return False


def _always() -> bool:
    return True


# --- tasks -------------------------------------------------------------------------------


class TaskState(Enum):
    INITIAL = 1
    STARTED = 2
    PENDING_CANCEL = 3
    CANCEL_DELIVERED = 4
    RESOLVED = 5


class Task:
    """One call of a lifted function (the spec's ``Task``)."""

    __slots__ = (
        "borrows",
        "ft",
        "implicit_thread",
        "inst",
        "istate",
        "on_resolve",
        "on_start",
        "opts",
        "state",
        "threads",
    )

    def __init__(
        self,
        ft: Any,
        opts: Any,
        inst: Any,
        on_start: Callable[[], list[Any]],
        on_resolve: Callable[[Any], None],
    ) -> None:
        self.ft = ft
        self.opts = opts
        self.inst = inst
        self.istate = instance_state(inst)
        self.on_start = on_start
        self.on_resolve = on_resolve
        self.state = TaskState.INITIAL
        self.borrows = BorrowScope()
        self.implicit_thread: Thread | None = None
        self.threads: list[Thread] = []

    def needs_exclusive(self) -> bool:
        return not self.opts.is_async or self.opts.callback is not None

    def may_block(self) -> bool:
        """Sync-typed tasks may not block before they return."""
        return bool(self.ft.is_async) or self.state is TaskState.RESOLVED

    def has_backpressure(self) -> bool:
        st = self.istate
        return st.backpressure > 0 or (self.needs_exclusive() and st.exclusive_thread is not None)

    def register_thread(self, thread: Thread) -> None:
        self.threads.append(thread)
        thread.index = self.istate.threads.add(thread)

    def unregister_thread(self, thread: Thread) -> None:
        self.threads.remove(thread)
        if thread.index is not None:
            self.istate.threads.remove(thread.index)
            thread.index = None
        if not self.threads and self.state is not TaskState.RESOLVED:
            raise Trap(_NO_RETURN)

    def exit_implicit_thread(self) -> None:
        thread = self.implicit_thread
        assert thread is not None
        st = self.istate
        if self.ft.is_async and self.needs_exclusive() and st.exclusive_thread is thread:
            st.exclusive_thread = None
        self.unregister_thread(thread)

    def request_cancellation(self, caller: Any = None) -> None:
        """The caller's ``subtask.cancel``: deliver now if possible, else mark pending."""
        if self.state is TaskState.INITIAL:
            self.state = TaskState.CANCEL_DELIVERED
            thread = self.implicit_thread
            assert thread is not None
            thread.resume(True)
            return
        if self.state is not TaskState.STARTED:
            return
        st = self.istate
        candidates = [t for t in self.threads if t.cancellable and t.waiting()]
        if (
            self.needs_exclusive()
            and st.exclusive_thread is not None
            and st.exclusive_thread is not self.implicit_thread
        ):
            candidates = [t for t in candidates if t is not self.implicit_thread]
        if candidates:
            self.state = TaskState.CANCEL_DELIVERED
            candidates[0].resume(True)
        else:
            self.state = TaskState.PENDING_CANCEL

    def deliver_pending_cancel(self, cancellable: bool) -> bool:
        if cancellable and self.state is TaskState.PENDING_CANCEL:
            self.state = TaskState.CANCEL_DELIVERED
            return True
        return False

    def start(self) -> list[Any]:
        assert self.state is TaskState.INITIAL
        self.state = TaskState.STARTED
        return self.on_start()

    def return_(self, result: Any) -> None:
        if self.state is TaskState.RESOLVED:
            raise Trap(_RETURN_TWICE)
        if self.borrows.num_borrows > 0:
            raise Trap("borrow handles still remain at the end of the call")
        self.state = TaskState.RESOLVED
        self.on_resolve(result)

    def cancel(self) -> None:
        if self.state is not TaskState.CANCEL_DELIVERED:
            raise Trap("`task.cancel` called by task which has not been cancelled")
        if self.borrows.num_borrows > 0:
            raise Trap("borrow handles still remain at the end of the call")
        self.state = TaskState.RESOLVED
        self.on_resolve(CANCELLED)


_NO_RETURN = "wasm trap: async-lifted export failed to produce a result"
_RETURN_TWICE = "wasm trap: task.return called after the task returned"


# --- subtasks ----------------------------------------------------------------------------


class SubtaskState(IntEnum):
    STARTING = 0
    STARTED = 1
    RETURNED = 2
    CANCELLED_BEFORE_STARTED = 3
    CANCELLED_BEFORE_RETURNED = 4


class Subtask(Waitable):
    """The caller's view of a call made through ``canon lower`` (the spec's ``Subtask``)."""

    __slots__ = (
        "cancellation_requested",
        "delivered",
        "flat_results",
        "lenders",
        "on_cancel",
        "state",
    )

    def __init__(self) -> None:
        super().__init__()
        self.state = SubtaskState.STARTING
        self.on_cancel: Callable[[Any], None] | None = None
        self.lenders = BorrowScope()
        self.cancellation_requested = False
        self.flat_results: list[Any] = []
        self.delivered = False

    def resolved(self) -> bool:
        return self.state >= SubtaskState.RETURNED

    def resolve(self, state: SubtaskState, flat_results: list[Any]) -> None:
        assert not self.resolved()
        self.state = state
        self.flat_results = flat_results

    def deliver_resolve(self) -> None:
        assert not self.delivered and self.resolved()
        self.lenders.release()
        self.delivered = True

    def resolve_delivered(self) -> bool:
        return self.delivered

    def event(self, index: int) -> EventTuple:
        if self.resolved() and not self.delivered:
            self.deliver_resolve()
        return (EventCode.SUBTASK, index, int(self.state))

    def drop(self) -> None:
        if not self.delivered:
            raise Trap("cannot drop a subtask which has not yet resolved")
        Waitable.drop(self)
