"""Tasks and threads.

Follows the spec's ``Task`` and ``Thread``; the caller's ``Subtask``, a
waitable, is in :mod:`wasmloom.runtime.waitables` (and re-exported here); the
store's scheduler that runs threads is :mod:`wasmloom.runtime.scheduler`.

A :class:`Thread` is either *running* (its code is on the native stack),
*waiting* (it sits in the scheduler's ``waiting`` threads with a ``ready_func``
predicate, and is queued or parked on what it waits for, its ``wait_on``: see
:mod:`wasmloom.runtime.scheduler`) or *suspended* (neither). A waiting or suspended thread is resumed
in one of two ways:

- through its continuation ``cont(cancelled)``, a Python callable that carries
  on where it stopped (a callback-ABI task between two callback calls, a task
  queued behind backpressure): nothing of it is on any stack;
- or, when it blocked in the middle of core code, by polling its paused fiber
  (``call``, a :class:`wasmloom.core.CoreCall`): the blocking built-in returned
  a :class:`wasmloom.core.Blocked` whose ``finish`` completes the built-in once
  the thread is resumed (:meth:`Thread.block`).

Core code runs on a fiber only in component instances that may block
(:attr:`InstanceState.may_block`: the instance imports a blocking built-in or
a lowered function that may suspend its caller); elsewhere it runs through the
plain :meth:`wasmloom.core.CoreFunc.caller`, with no fiber cost.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, IntEnum
from typing import Any

from wasmloom import core
from wasmloom.abi.handles import BorrowScope, Table
from wasmloom.errors import Trap, WasmloomError
from wasmloom.runtime.context_slots import ContextSlots, switched
from wasmloom.runtime.scheduler import DEADLOCK, Root, Scheduler, settle, unpark, wake
from wasmloom.runtime.traps import SYNC_BLOCK, poison, sync_block_trap
from wasmloom.runtime.waitables import Subtask, SubtaskState

__all__ = [
    "BLOCKED",
    "CANCELLED",
    "CallbackCode",
    "InstanceState",
    "Subtask",
    "SubtaskState",
    "Task",
    "TaskState",
    "Thread",
    "instance_state",
]

BLOCKED = 0xFFFF_FFFF


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


class InstanceState:
    """The async state of one component instance (the spec's ``ComponentInstance`` fields).

    ``may_block``: some core import of the instance may suspend its caller, so
    its core code runs on fibers.

    ``preempted``: see :meth:`Thread.yield_to_loop`. Preemption is invisible
    to the instance: its threads interleave only where the spec lets them.

    ``waiters``: the threads parked until the instance changes (its exclusive
    lock released, backpressure lowered, preemption ended): whatever changes
    it calls :func:`~wasmloom.runtime.scheduler.wake` (see :meth:`unlock`).
    """

    __slots__ = (
        "backpressure",
        "ctx",
        "exclusive_thread",
        "may_block",
        "num_waiting_to_enter",
        "preempted",
        "sched",
        "threads",
        "waiters",
    )

    def __init__(self, sched: Scheduler[Thread], handle_limit: int | None = None) -> None:
        self.sched = sched
        self.threads: Table[Thread] = Table(handle_limit)
        self.backpressure = 0
        self.num_waiting_to_enter = 0
        self.exclusive_thread: Thread | None = None
        #: The thread whose fiber yielded at an epoch tick, mid-computation: until it
        #: runs again no other thread of the instance runs and no task enters it.
        self.preempted: Thread | None = None
        self.may_block = False
        self.waiters: list[Thread] | None = None
        #: Where the instance's ``context.get``/``set`` keep the slots of the code
        #: running in it, when they are wasm (see :class:`~wasmloom.runtime.context_slots.ContextSlots`).
        self.ctx: ContextSlots | None = None

    def unlock(self) -> None:
        """Release the exclusive lock; the threads waiting for it may run."""
        self.exclusive_thread = None
        if self.waiters is not None:
            wake(self)

    def run_preempted_on(self) -> None:
        """A guest reaches into this instance (a call, a cancellation) while one of its
        threads is preempted: that thread first runs on to where it may be suspended
        (nested under the guest, so it cannot yield again)."""
        t = self.preempted
        if t is not None:
            t.resume()


def instance_state(inst: Any) -> InstanceState:
    """The :class:`InstanceState` of a component instance (created on first use)."""
    st = inst.conc
    if st is None:
        st = inst.conc = InstanceState(inst.store.scheduler, inst.handles.limit)
        if inst.store.time_slicing:
            st.may_block = True  # every guest on fibers, so that each can yield
    return st  # type: ignore[no-any-return]


# --- threads ---------------------------------------------------------------------------


class Thread:
    """A thread of a task (see the module docstring for its states)."""

    __slots__ = (
        "call",
        "callback_step",
        "cancellable",
        "cont",
        "index",
        "needs_lock",
        "on_done",
        "parked",
        "preempt_turn",
        "queued",
        "ready_func",
        "running",
        "sched",
        "storage",
        "switch_to",
        "task",
        "turn",
        "wait_cont",
        "wait_on",
        "wait_ready",
        "wait_set",
        "wake",
    )

    # The callback-ABI WAIT this thread is in (set by the lifted function whose
    # callback asked for it; unset until the first such WAIT).
    wait_set: Any

    def __init__(self, task: Task, cont: Callable[[bool], None] | None) -> None:
        self.task = task
        self.sched = task.istate.sched
        self.cont = cont
        self.ready_func: Callable[[], bool] | None = None
        self.cancellable = False
        self.index: int | None = None
        # The two `context.get`/`context.set` slots, created on first use.
        self.storage: list[int] | None = None
        self.call: Any = None
        self.on_done: Callable[[Any], None] | None = None
        self.wake: bool | None = None
        # True while this thread's code is on the native stack (being polled or run).
        self.running = False
        # The thread to resume right after this one's fiber pauses (`thread.*-then-*`).
        self.switch_to: Thread | None = None
        #: After a yield: the event loop turn the scheduler's drivers wait for
        #: before they resume this thread (it is ready meanwhile, as the spec says).
        self.turn: Any = None
        #: While its fiber, preempted, waits for the loop's turn: what that turn runs
        #: (see :meth:`yield_to_loop`, :meth:`take_preemption_turn`).
        self.preempt_turn: Callable[[], None] | None = None
        # The readiness test and continuation of a callback-ABI WAIT, made at
        # the first WAIT and reused by the next ones
        self.wait_ready: Callable[[], bool] | None = None
        self.wait_cont: Callable[[bool], None] | None = None
        #: What a callback-ABI task's implicit thread does with each code its core
        #: code returns (the lifted function's ``_callback_step``, bound to it).
        self.callback_step: Callable[[Any], None] | None = None
        # Scheduling (see runtime.scheduler): what a wait is for (something with
        # `waiters`, woken when it may have made the thread ready; None: polled),
        # whether readiness also needs the instance's lock, where the thread is
        # parked now, and whether it is in the ready queue.
        self.wait_on: Any = None
        self.needs_lock = False
        self.parked: Any = None
        self.queued = False

    def waiting(self) -> bool:
        return self.ready_func is not None

    def suspended(self) -> bool:
        return (
            not self.running
            and self.ready_func is None
            and (self.cont is not None or self.call is not None)
        )

    def ready(self) -> bool:
        rf = self.ready_func
        return rf is not None and rf()

    def shares_stack(self) -> bool:
        """Whether this thread may run while a synchronous (non-async-typed) call of
        its instance is in progress: it is ready, and it neither holds the instance's
        exclusive lock nor is the implicit thread of a task that needs it (a callback
        loop or a sync-lifted async function would reuse the call's stack)."""
        if not self.ready():
            return False
        task = self.task
        st = task.istate
        if self is st.exclusive_thread or st.preempted not in (None, self):
            return False
        return not (self is task.implicit_thread and task.ft.is_async and task.needs_exclusive())

    def check_may_block(self) -> None:
        """Trap unless this thread may block now.

        A synchronous task (non-async-typed, not yet returned) may block only
        while another thread of its instance is ready to run on the stack
        (:meth:`shares_stack`), as in the spec's ``canon_lift``: blocking with
        none traps. The trap says deadlock when threads are ready elsewhere but
        may not run, else that a synchronous task cannot block.
        """
        task = self.task
        if task.may_block():
            return
        st = task.istate
        for t in st.threads:
            if t is not self and t.shares_stack():
                return
        raise sync_block_trap(task.inst)

    def wait_set_ready(self) -> bool:
        """Readiness of a callback-ABI WAIT: the instance is free and ``wait_set`` has an event."""
        if self.task.istate.exclusive_thread is not None:
            return False
        for w in self.wait_set.elems:
            if w.pending_event is not None:
                return True
        return False

    def start_waiting(
        self,
        ready: Callable[[], bool],
        cont: Callable[[bool], None] | None,
        cancellable: bool,
        on: Any = None,
        lock: bool = False,
    ) -> None:
        """Wait until ``ready()``; then the scheduler resumes the thread (``cont`` if given).

        ``on`` is what makes ``ready()`` true (a waitable, waitable set or the
        instance's :class:`InstanceState`: whatever changes it wakes the threads
        parked on it); ``None`` means nothing does, and the scheduler polls the
        thread on each tick. ``lock``: ``ready()`` also asks for the instance's
        exclusive lock to be free. A thread ready now is queued at once.
        """
        assert self.ready_func is None
        self.ready_func = ready
        if cont is not None:
            self.cont = cont
        self.cancellable = cancellable
        self.wait_on = on
        self.needs_lock = lock
        sched = self.sched
        sched.waiting[self] = None
        if not self.queued and settle(self):
            self.queued = True
            sched.ready.append(self)

    def stop_waiting(self) -> None:
        if self.ready_func is not None:
            self.ready_func = None
            del self.sched.waiting[self]
            if self.parked is not None:
                unpark(self)

    def resume_later(self) -> None:
        self.start_waiting(_always, None, self.cancellable)

    def resume(self, cancelled: bool = False) -> None:
        """Resume this waiting or suspended thread (``cancelled``: deliver cancellation).

        When the thread pauses by switching to another thread
        (``thread.*-then-resume``), that thread is resumed next, and so on.
        """
        thread: Thread | None = self
        while thread is not None:
            thread._resume_once(cancelled)
            cancelled = False
            nxt = thread.switch_to
            thread.switch_to = None
            thread = nxt

    def _resume_once(self, cancelled: bool) -> None:
        sched = self.sched
        if self.ready_func is not None:  # stop_waiting() in line
            self.ready_func = None
            del sched.waiting[self]
            if self.parked is not None:
                unpark(self)
        self.turn = None
        prev = sched.current
        sched.current = self
        # switched(prev, self), in line for the common case (nothing was running)
        ctx = self.task.istate.ctx
        if prev is not None:
            switched(prev, None)
        if ctx is not None:
            ctx.rebind()
        self.running = True
        try:
            call = self.call
            if call is not None:
                self.end_preemption()
                self.wake = cancelled
                self.run_fiber(call, self.on_done)  # type: ignore[arg-type]
            else:
                cont = self.cont
                self.cont = None
                assert cont is not None
                cont(cancelled)
        except BaseException:
            self.switch_to = None
            raise
        finally:
            self.running = False
            sched.current = prev
            # switched(self, prev), in line
            if ctx is not None:
                ctx.view[2] = 0  # ctx.invalidate(), in line
            if prev is not None:
                switched(None, prev)

    def yield_to_loop(self) -> None:
        """The thread's fiber yielded at an epoch tick: resume it after one turn of the loop.

        The loop runs host coroutines, timeouts, signal handlers and other
        instances meanwhile; the thread's own instance is *preempted*: none of
        its other threads runs and no task enters it until this one runs again
        (:attr:`InstanceState.preempted`). The turn counts as host work in
        flight, so the drivers wait for it (running the loop) rather than
        report a deadlock; until it comes the thread waits, not cancellably.
        A host call into the instance may take the turn before the loop does
        (:meth:`take_preemption_turn`).
        """
        sched = self.sched
        st = self.task.istate
        turned = [False]

        def ready() -> bool:
            return turned[0]

        def turn() -> None:
            if self.preempt_turn is not turn:
                return  # taken already (take_preemption_turn)
            self.preempt_turn = None
            sched.host_pending -= 1
            if self.ready_func is ready:
                turned[0] = True
                if not self.queued:
                    self.queued = True
                    sched.ready.append(self)
                sched.run_ready()
            else:
                sched.notify()

        st.preempted = self
        self.start_waiting(ready, None, False, st)
        sched.host_pending += 1
        self.preempt_turn = turn
        sched.loop().call_soon(turn)

    def take_preemption_turn(self) -> None:
        """Take now the loop turn this preempted thread waits for (:meth:`yield_to_loop`).

        For a host call into the thread's instance, made from outside guest code:
        the host has the loop, so the turn has in effect come. The thread, and
        the threads it then makes ready (tasks waiting to enter the instance
        first), run as the turn would run them, before the call goes on; the
        loop's own turn then does nothing. A trap that no host call owns goes to
        the loop's exception handler, as it would from the turn.
        """
        turn = self.preempt_turn
        if turn is None:
            return
        try:
            turn()
        except Exception as e:
            self.sched.loop().call_exception_handler(
                {
                    "message": "guest trap in a preempted thread resumed by a host call",
                    "exception": e,
                }
            )

    def end_preemption(self) -> None:
        """This thread runs again (or never will): its instance is no longer preempted."""
        st = self.task.istate
        if st.preempted is self:
            st.preempted = None
            if st.waiters is not None:
                wake(st)

    def run_core(
        self,
        fiber: bool,
        func: Any,
        caller: Callable[..., Any] | None,
        args: Any,
        on_done: Callable[[Any], None],
    ) -> None:
        """Run core code for this thread; ``on_done(results)`` when it returns.

        On a fiber (``fiber``) the code may block: this then returns with the
        thread waiting, and ``on_done`` runs when a later :meth:`resume` finishes it.
        """
        if not fiber:
            assert caller is not None
            on_done(caller(*args))
            return
        self.run_fiber(func.call_async(*args), on_done)

    def run_fiber(self, call: Any, on_done: Callable[[Any], None]) -> None:
        """Run (or resume) this thread's core code on the fiber of ``call`` (a
        :class:`wasmloom.core.CoreCall`): poll it once; ``on_done(results)`` if it
        returns, else the thread waits (it blocked, or yielded at an epoch tick:
        :meth:`yield_to_loop`) and a later :meth:`resume` polls it again.
        """
        sched = self.sched
        prev = sched.current
        sched.current = self
        if prev is not self:  # not when _resume_once runs it: nothing to rebind
            switched(prev, self)
        was_running = self.running
        self.running = True
        try:
            self.on_done = on_done
            self.call = call
            try:
                done = call.poll()
            except BaseException:
                self.call = None
                self.on_done = None
                raise
            if done:
                self.call = None
                self.on_done = None
                on_done(call.result)
            elif call.yielded:
                self.yield_to_loop()
        except BaseException:
            self.switch_to = None
            raise
        finally:
            self.running = was_running
            sched.current = prev
            if prev is not self:
                switched(self, prev)
        other = self.switch_to
        if other is not None and not was_running:
            self.switch_to = None
            other.resume()

    def abandon(self) -> None:
        """Drop this thread without running it further (its paused fiber unwinds)."""
        self.stop_waiting()
        self.end_preemption()
        call = self.call
        self.call = None
        self.cont = None
        self.on_done = None
        if call is not None:
            try:
                call.close()
            except WasmloomError:
                pass

    # -- blocking inside core code (called from an async host function on this thread's fiber)

    def block(
        self,
        ready: Callable[[], bool],
        cancellable: bool,
        finish: Callable[[bool], Any],
        on: Any = None,
    ) -> Any:
        """The spec's ``wait_until``: ``finish(cancelled)`` now, or a :class:`Blocked` for later.

        ``on``: what wakes the thread when ``ready()`` may have become true (see
        :meth:`start_waiting`).
        """
        task = self.task
        if task.deliver_pending_cancel(cancellable):
            return finish(True)
        if ready():
            return finish(False)
        self.check_may_block()
        st = task.istate
        if (
            st.exclusive_thread is self
            and task.opts.callback is not None
            and task.state is TaskState.RESOLVED
        ):
            # As in Wasmtime: a callback-lifted task that already returned and then
            # blocks inside core code does not keep other tasks out of its
            # instance; it takes the lock back (waiting for it if needed) before
            # it resumes.
            st.unlock()
            inner_ready = ready
            inner_finish = finish

            def ready() -> bool:
                return st.exclusive_thread is None and inner_ready()

            def finish(cancelled: bool) -> Any:
                st.exclusive_thread = self
                return inner_finish(cancelled)

            self.start_waiting(ready, None, cancellable, on, True)
            return self.suspend_native(finish)
        self.start_waiting(ready, None, cancellable, on)
        return self.suspend_native(finish)

    def suspend_native(self, finish: Callable[[bool], Any]) -> core.Blocked:
        """Pause this thread's fiber until :meth:`resume`; then ``finish(cancelled)``."""
        if self.call is None:
            raise Trap(SYNC_BLOCK)
        self.wake = None

        def woken() -> bool:
            return self.wake is not None

        def done() -> Any:
            cancelled = bool(self.wake)
            self.wake = None
            return finish(cancelled)

        return core.Blocked(woken, done)

    def suspend(self, cancellable: bool) -> Any:
        """``thread.suspend``: pause until some thread resumes this one; 1 if cancelled."""
        task = self.task
        if task.deliver_pending_cancel(cancellable):
            return 1
        self.check_may_block()
        self.cancellable = cancellable
        return self.suspend_native(int)

    def switch(self, cancellable: bool, other: Thread, then_wait: bool) -> Any:
        """``thread.{suspend,yield}-then-resume``: pause (ready to run again if
        ``then_wait``, else suspended) and run ``other`` at once; 1 if cancelled."""
        if self.task.deliver_pending_cancel(cancellable):
            return 1
        if then_wait:
            self.start_waiting(_always, None, cancellable)
        else:
            self.cancellable = cancellable
        self.switch_to = other
        return self.suspend_native(int)

    def promote(self, cancellable: bool, other: Thread, then_wait: bool) -> Any:
        """``thread.{suspend,yield}-then-promote``: switch to ``other`` if it is ready,
        else just suspend or yield."""
        if self.task.deliver_pending_cancel(cancellable):
            return 1
        if other.ready():
            other.stop_waiting()
            return self.switch(cancellable, other, then_wait)
        if then_wait:
            return self.yield_(cancellable, int)
        return self.suspend(cancellable)

    def yield_(self, cancellable: bool, finish: Callable[[bool], Any]) -> Any:
        """``thread.yield``: let the other ready threads, and the host's event loop, run first."""
        task = self.task
        if task.deliver_pending_cancel(cancellable):
            return finish(True)
        if not task.may_block() or self.call is None:
            return finish(False)
        self.start_waiting(_always, None, cancellable)
        self.turn = self.sched.next_turn()
        return self.suspend_native(finish)


def _always() -> bool:
    return True


# --- tasks -------------------------------------------------------------------------------


class TaskState(Enum):
    INITIAL = 1
    STARTED = 2
    PENDING_CANCEL = 3
    CANCEL_DELIVERED = 4
    RESOLVED = 5


# Enum members as plain globals: the hot paths below read them on every call.
_INITIAL = TaskState.INITIAL
_RESOLVED = TaskState.RESOLVED


class Task:
    """One call of a lifted function (the spec's ``Task``).

    ``name``, the WIT function's name for trap messages, is set only on tasks
    that may be resumed by the scheduler through core code (read it with
    ``getattr(task, "name", None)``).
    """

    name: str

    __slots__ = (
        "borrows",
        "exclusive",
        "ft",
        "implicit_thread",
        "inst",
        "istate",
        "lift_return",
        "name",
        "on_resolve",
        "on_start",
        "opts",
        "root",
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
        root: Root | None = None,
    ) -> None:
        self.root = root
        if root is not None and root.task is None and not root.done:
            root.task = self  # the task the host called
        self.ft = ft
        self.opts = opts
        #: It runs holding its instance's exclusive lock (:meth:`needs_exclusive`).
        self.exclusive = not opts.is_async or opts.callback is not None
        self.inst = inst
        st = inst.conc
        self.istate = st if st is not None else instance_state(inst)
        self.on_start = on_start
        self.on_resolve = on_resolve
        # lifts this task's task.return values when set (see LiftedFunc.lift_return)
        self.lift_return: Callable[[Any, Any], Any] | None = None
        self.state = _INITIAL
        # Created on first use (:meth:`borrow_scope`): most tasks lend no borrows.
        self.borrows: BorrowScope | None = None
        self.implicit_thread: Thread | None = None
        self.threads: list[Thread] = []

    def borrow_scope(self) -> BorrowScope:
        """The borrows lent to this task by its caller (created on first use)."""
        b = self.borrows
        if b is None:
            b = self.borrows = BorrowScope()
        return b

    def poison(self, error: BaseException | None = None) -> None:
        """A trap in this task: its instance may never be entered again (:func:`poison`)."""
        poison(self.inst, error if error is not None else Trap(DEADLOCK))

    def needs_exclusive(self) -> bool:
        return self.exclusive

    def may_block(self) -> bool:
        """Sync-typed tasks may not block before they return."""
        return bool(self.ft.is_async) or self.state is _RESOLVED

    def resolved(self) -> bool:
        """Whether the task has returned a value or was cancelled (``task.return``/``task.cancel``)."""
        return self.state is _RESOLVED

    def has_backpressure(self) -> bool:
        st = self.istate
        return st.backpressure > 0 or (self.exclusive and st.exclusive_thread is not None)

    def register_thread(self, thread: Thread) -> None:
        self.threads.append(thread)
        thread.index = self.istate.threads.add(thread)

    def unregister_thread(self, thread: Thread) -> None:
        self.threads.remove(thread)
        if thread.index is not None:
            self.istate.threads.remove(thread.index)
            thread.index = None
        if not self.threads and self.state is not _RESOLVED:
            raise Trap(_NO_RETURN)

    def exit_implicit_thread(self) -> None:
        thread = self.implicit_thread
        assert thread is not None
        st = self.istate
        if self.ft.is_async and self.exclusive and st.exclusive_thread is thread:
            st.exclusive_thread = None  # st.unlock(), in line
            if st.waiters is not None:
                wake(st)
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
        st.run_preempted_on()  # a guest cancels: the instance must be at rest
        candidates = [t for t in self.threads if t.cancellable and (t.waiting() or t.suspended())]
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
        if self.state is _RESOLVED:
            raise Trap(_RETURN_TWICE)
        b = self.borrows
        if b is not None and b.num_borrows > 0:
            raise Trap("borrow handles still remain at the end of the call")
        self.state = _RESOLVED
        self.on_resolve(result)

    def cancel(self) -> None:
        if self.state is not TaskState.CANCEL_DELIVERED:
            raise Trap("`task.cancel` called by task which has not been cancelled")
        b = self.borrows
        if b is not None and b.num_borrows > 0:
            raise Trap("borrow handles still remain at the end of the call")
        self.state = TaskState.RESOLVED
        self.on_resolve(CANCELLED)


_NO_RETURN = "wasm trap: async-lifted export failed to produce a result"
_RETURN_TWICE = "wasm trap: task.return called after the task returned"
