"""``canon lift``: component functions and lifted guest functions.

A :class:`ComponentFunc` is what sits in a component's ``func`` index space.
Its :meth:`~ComponentFunc.call` takes and returns Python values (the value
mapping of :mod:`wasmloom.values`) and the calling component instance
(``None`` when the host calls). Lowering a function into a guest is
:func:`wasmloom.runtime.lower.lower`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from wasmloom import types as T
from wasmloom.abi.context import CanonOptions, LiftLowerContext
from wasmloom.abi.funcabi import FuncABI, host_lowering
from wasmloom.abi.handles import BorrowScope
from wasmloom.core.calls import async_starter
from wasmloom.errors import Trap, WasmloomError
from wasmloom.runtime.context_slots import rebind_context
from wasmloom.runtime.scheduler import IN_LOOP, Root, park, wake
from wasmloom.runtime.tasks import (
    CallbackCode,
    Task,
    TaskState,
    Thread,
    instance_state,
    unpack_callback_result,
)
from wasmloom.runtime.traps import poison, sync_block_trap
from wasmloom.runtime.waitables import EventCode, EventTuple, WaitableSet

if TYPE_CHECKING:
    import asyncio

    from wasmloom.runtime.scope import ComponentInstance
else:
    from wasmloom.aio import asyncio

OnStart = Callable[[], list[Any]]
OnResolve = Callable[[Any], None]
OnCancel = Callable[[Any], None]


# Callback codes as plain ints (compared on every callback return).
_EXIT = int(CallbackCode.EXIT)
_YIELD = int(CallbackCode.YIELD)
_WAIT = int(CallbackCode.WAIT)
_PENDING_CANCEL = TaskState.PENDING_CANCEL


def no_cancel(caller: Any = None) -> None:
    return None


def _no_start() -> list[Any]:
    raise AssertionError("task started twice")


def _check_enter(inst: Any, caller: Any, name: str | None) -> list[Any]:
    """The instances a call from ``caller`` enters; trap if it may not enter them.

    As in Wasmtime, calls between an instance and its ancestors trap too.
    """
    entering = inst.entering_set(caller)
    for i in entering:
        if not i.may_enter or i.poisoned:
            raise Trap("cannot enter component instance", name)
    if caller is not None and caller is not inst:
        if caller in inst.self_and_ancestors() or inst in caller.self_and_ancestors():
            raise Trap("cannot enter component instance", name)
    return entering  # type: ignore[no-any-return]


class ComponentFunc:
    """A function of the component ``func`` sort."""

    type: T.FuncType
    name: str | None

    def call(self, args: list[Any], caller: ComponentInstance | None) -> Any:
        """Call with Python values; return the result value (``None`` if no result)."""
        raise NotImplementedError

    def invoke(self, on_start: OnStart, on_resolve: OnResolve, caller: Any) -> OnCancel:
        """The spec's ``FuncInst`` contract: start the call; return its cancel function.

        ``on_start()`` gives the arguments when the callee starts; ``on_resolve(v)``
        receives the result (:data:`~wasmloom.runtime.tasks.CANCELLED` when cancelled). If the callee blocks, this
        returns before ``on_resolve`` was called.
        """
        on_resolve(self.call(on_start(), caller))
        return no_cancel


class LiftedFunc(ComponentFunc):
    """A core function lifted by ``canon lift`` in component instance ``inst``."""

    def __init__(
        self,
        inst: ComponentInstance,
        callee: Any,
        ft: T.FuncType,
        opts: CanonOptions,
        callback: Any = None,
    ) -> None:
        self.inst = inst
        self.callee = callee
        self.type = ft
        self.opts = opts
        self.callback = callback
        self.name: str | None = None
        self._abi: FuncABI | None = None
        self._core: Callable[..., Any] | None = None
        self._lower_host: Callable[[LiftLowerContext, Sequence[Any]], list[Any]] | None = None
        self._fiber: bool | None = None
        #: Starts a call of the callback on a fiber (see :func:`async_starter`), made once.
        self._callback_start: Callable[..., Any] | None = None
        #: Lifts the values of the task's ``task.return`` in place of the
        #: built-in's own plan (typed bindings set it: their classes).
        self.lift_return: Callable[[Any, Sequence[Any]], Any] | None = None
        if opts.is_async or ft.is_async:
            self.call = self.call_async_blocking  # type: ignore[method-assign,assignment]

    def __repr__(self) -> str:
        return f"<lifted func {self.name}: {self.type}>"

    def prepare(self) -> tuple[FuncABI, Callable[..., Any]]:
        """Derive the call plan once: the specialised ABI and the raw core caller."""
        if self._abi is None or self._core is None:
            self._abi = FuncABI(self.type, self.opts, "lift")
            self._core = self.callee.caller()
        return self._abi, self._core

    def lower_host_args(self) -> Callable[[LiftLowerContext, Sequence[Any]], list[Any]]:
        """Lowers the arguments of a host call (see :func:`host_lowering`)."""
        f = self._lower_host
        if f is None:
            f = self._lower_host = host_lowering(self.prepare()[0].lower_params, self.type)
        return f

    @property
    def is_async(self) -> bool:
        """Whether calls go through a task (async-typed, or lifted with ``async``)."""
        return bool(self.opts.is_async or self.type.is_async)

    @property
    def fiber(self) -> bool:
        """Whether this function's core code runs on fibers (its instance may block)."""
        f = self._fiber
        if f is None:
            f = self._fiber = instance_state(self.inst).may_block
        return f

    @property
    def needs_task(self) -> bool:
        """Whether every call goes through a task (async, or core code that may block)."""
        return self.is_async or self.fiber

    # --- the async path: tasks -------------------------------------------------------

    def call_async_blocking(self, args: list[Any], caller: ComponentInstance | None) -> Any:
        """Run one task of this function to its result, driving the store's scheduler."""
        root = Root()
        sched = instance_state(self.inst).sched
        if caller is None:
            sched.check_no_loop()
            self.start_from_host(args, root)
            if root.done:
                return root.outcome()
            return sched.drive_sync(root)
        self.invoke_task(lambda: args, root.resolve, caller)
        if not root.done:
            sched.run_until(lambda: root.done)
        return root.outcome()

    async def call_async(self, args: Sequence[Any]) -> Any:
        """Call from the host under asyncio: start a task and await its result.

        Cancelling the awaiting asyncio task requests the cancellation of the
        component task (the guest sees TASK_CANCELLED when it next waits
        cancellably) and raises :class:`asyncio.CancelledError` at once.
        """
        if not self.needs_task:
            # Core code that cannot block runs to completion at once.
            return self.call_from_host(args)
        root = Root()
        self.start_from_host(args, root)
        if root.done:
            return root.outcome()
        return await self.await_root(root)

    async def await_root(self, root: Root) -> Any:
        """Await the result of a task started by :meth:`start_from_host` that did not finish at once.

        Cancelling the awaiting asyncio task cancels the component task, as in :meth:`call_async`.
        """
        st = self.inst.conc or instance_state(self.inst)
        sched = st.sched
        try:
            fut = sched.root_future(root)
            if fut is not None:
                try:
                    await fut
                finally:
                    sched.roots.pop(root, None)
            return root.outcome()
        except asyncio.CancelledError:
            # The host gave up on the call: cancel the task (it may wrap up and return).
            st.sched.cancel_root(root, st)
            raise

    def start_from_host(self, args: Sequence[Any], root: Root) -> None:
        """Start a task of this function for a host call; ``root`` receives its result.

        The task runs until it returns or first waits; the scheduler's drivers
        run the rest. Equivalent to :meth:`invoke_task` (no caller).
        """
        self.start_from_host = fast = self._build_host_start()  # type: ignore[method-assign,assignment]
        fast(args, root)

    def _build_host_start(self) -> Callable[[Sequence[Any], Root], None]:
        """Specialise :meth:`start_from_host` once.

        An async-typed function lifted ``async`` (with a callback, if its core
        code runs on fibers) gets a direct path for the common case: nothing
        else runs in the store and the instance is free (no backpressure, no
        task holding or waiting for it, no thread of it preempted: a thread
        preempted at an epoch tick runs on first, see
        :meth:`~wasmloom.runtime.tasks.Thread.take_preemption_turn`). Then the
        task is started in line, without continuation closures, as
        :meth:`invoke_task`, :meth:`_enter` and :meth:`_run` would: without
        fibers a callback that returns EXIT at once ends it there; on a fiber
        the first step's code goes to :meth:`_callback_step` when the fiber
        returns. Anything else (WAIT/YIELD, traps) goes through the same task
        machinery as :meth:`invoke_task`.
        """

        def general(args: Sequence[Any], root: Root) -> None:
            self.invoke_task(lambda: list(args), root.resolve, None, root)

        fiber = self.fiber
        if not self.type.is_async or not self.opts.is_async:
            return general
        if fiber and self.opts.callback is None:
            return general
        _, core_call = self.prepare()
        lower_params = self.lower_host_args()
        inst = self.inst
        start_callee = async_starter(self.callee) if fiber else None
        st = instance_state(inst)
        sched = st.sched
        chain = tuple(inst.self_and_ancestors())
        name = self.name or "<anonymous>"
        ft = self.type
        opts = self.opts
        callback = opts.callback is not None
        borrows = any(T.contains_borrow(t) for _, t in ft.params)
        cx = LiftLowerContext(opts, inst, None, fused=False)
        callback_step = self._callback_step
        lift_return = self.lift_return
        started = TaskState.STARTED
        resolved = TaskState.RESOLVED
        threads = st.threads

        def start(args: Sequence[Any], root: Root) -> None:
            pre = st.preempted
            if pre is not None and sched.current is None:
                pre.take_preemption_turn()
            if (
                sched.current is not None
                or st.preempted is not None
                or st.backpressure
                or st.exclusive_thread is not None
                or st.num_waiting_to_enter
            ):
                return general(args, root)
            for i in chain:
                if not i.may_enter or i.poisoned:
                    raise Trap("cannot enter component instance", name)
            task = Task(ft, opts, inst, _no_start, root.resolve, root)
            task.lift_return = lift_return
            task.state = started
            thread = Thread(task, None)
            task.implicit_thread = thread
            for i in chain:
                i.may_enter = False
            flat = None
            try:
                if callback:
                    st.exclusive_thread = thread
                task.threads.append(thread)
                if fiber:
                    # On a fiber the thread may block, and other threads take
                    # indices meanwhile: it takes its index now, as in _run.
                    task.name = name
                    thread.index = threads.add(thread)
                    step = thread.callback_step = partial(callback_step, task, thread)
                # Else it takes its index in the instance's thread table only if
                # it outlives this first step or asks for it (`thread.index`):
                # until then nothing else can take one.
                sched.current = thread
                if st.ctx is not None:
                    st.ctx.rebind()  # switched(None, thread), in line
                thread.running = True
                try:
                    if borrows:
                        cx.borrow_scope = task.borrow_scope()
                    flat = lower_params(cx, args)
                    if fiber:
                        # thread.run_core(True, callee, core_call, flat, step), in line
                        assert start_callee is not None
                        thread.run_fiber(start_callee(*flat), step)
                    else:
                        packed = core_call(*flat)
                finally:
                    thread.running = False
                    sched.current = None
                    if st.ctx is not None:
                        st.ctx.invalidate()  # switched(thread, None), in line
                if fiber:
                    other = thread.switch_to
                    if other is not None:
                        thread.switch_to = None
                        other.resume()
                elif callback and packed:
                    thread.index = st.threads.add(thread)
                    callback_step(task, thread, packed)
                elif task.threads == [thread] and task.state is resolved:
                    # The task returned and exits: Task.exit_implicit_thread, in line.
                    if st.exclusive_thread is thread:
                        st.exclusive_thread = None  # st.unlock() in line
                        if st.waiters is not None:
                            wake(st)
                    task.threads.clear()
                    if thread.index is not None:
                        st.threads.remove(thread.index)
                        thread.index = None
                else:
                    task.exit_implicit_thread()
            except Exception as e:
                thread.switch_to = None
                if isinstance(e, Trap):
                    e.with_func(name)
                elif flat is None:
                    # A mistake in the host's arguments: no core code ran, nothing to poison.
                    if st.exclusive_thread is thread:
                        st.unlock()
                    if thread.index is not None:
                        threads.remove(thread.index)
                        thread.index = None
                    raise
                poison(inst, e)
                thread.abandon()
                raise
            finally:
                for i in chain:
                    i.may_enter = not i.poisoned

        return start

    def invoke(self, on_start: OnStart, on_resolve: OnResolve, caller: Any) -> OnCancel:
        if not self.needs_task:
            on_resolve(self.call(on_start(), caller))
            return no_cancel
        return self.invoke_task(on_start, on_resolve, caller)

    def invoke_task(
        self, on_start: OnStart, on_resolve: OnResolve, caller: Any, root: Root | None = None
    ) -> OnCancel:
        """The spec's ``canon_lift`` wrapped in ``Store.lift``: start a task; return its cancel."""
        inst = self.inst
        entering = _check_enter(inst, caller, self.name)
        st = inst.conc or instance_state(inst)
        if root is None and caller is not None:
            cur = st.sched.current
            if cur is not None:
                root = cur.task.root
        if caller is not None:
            st.run_preempted_on()
        for i in entering:
            i.may_enter = False
        task = Task(self.type, self.opts, inst, on_start, on_resolve, root)
        task.lift_return = self.lift_return
        task.name = self.name or "<anonymous>"
        thread = Thread(task, None)
        task.implicit_thread = thread
        fused = caller is not None
        thread.cont = lambda cancelled: self._enter(task, thread, fused, cancelled)
        try:
            if st.preempted is not None:
                # The host calls in while a thread of the instance is preempted: the
                # new task enters once that thread has run again.
                thread.start_waiting(lambda: st.preempted is None, None, True, st)
            else:
                thread.resume()
            if not self.type.is_async:
                while task.state is not TaskState.RESOLVED:
                    # Only threads of this instance that can share the stack run meanwhile.
                    for t in st.threads:
                        if t.shares_stack():
                            t.resume()
                            break
                    else:
                        if caller is None and st.sched.host_pending:
                            break  # the host's driver waits for the host work
                        raise sync_block_trap(inst)
        except Exception as e:
            if isinstance(e, Trap):
                e.with_func(self.name or "<anonymous>")
            poison(inst, e)
            thread.abandon()
            raise
        finally:
            for i in entering:
                i.may_enter = not i.poisoned
        return task.request_cancellation

    def _enter(self, task: Task, thread: Thread, fused: bool, cancelled: bool) -> None:
        st = task.istate
        if cancelled:
            task.cancel()
            return
        if self.type.is_async and (
            st.backpressure > 0  # task.has_backpressure() in line
            or (task.exclusive and st.exclusive_thread is not None)
            or st.num_waiting_to_enter > 0
        ):
            st.num_waiting_to_enter += 1

            def after_backpressure(cancelled: bool) -> None:
                st.num_waiting_to_enter -= 1
                if cancelled:
                    task.cancel()
                else:
                    self._run(task, thread, fused)

            thread.start_waiting(lambda: not task.has_backpressure(), after_backpressure, True, st)
            return
        self._run(task, thread, fused)

    def _run(self, task: Task, thread: Thread, fused: bool) -> None:
        # What prepare(), lower_host_args() and the fiber property derive once, read
        # directly after the first call (this runs once per task).
        fabi = self._abi
        core_call = self._core
        if fabi is None or core_call is None:
            fabi, core_call = self.prepare()
        inst = self.inst
        st = task.istate
        opts = self.opts
        if self.type.is_async and task.exclusive:
            st.exclusive_thread = thread
        task.register_thread(thread)
        borrows = task.borrows
        if borrows is None:
            borrows = task.borrow_scope()
        cx = LiftLowerContext(opts, inst, borrows, fused=fused)
        if fused:
            flat = fabi.lower_params(cx, task.start())
        else:
            lower_host = self._lower_host
            if lower_host is None:
                lower_host = self.lower_host_args()
            try:
                flat = lower_host(cx, task.start())
            except Trap:
                raise
            except Exception as e:
                self._refuse(task, thread, e)
                return
        fiber = self._fiber
        if fiber is None:
            fiber = self.fiber
        if not opts.is_async:

            def sync_done(results: Any) -> None:
                task.return_(fabi.lift_results(cx, results))
                self._post_return(results)
                task.exit_implicit_thread()

            thread.run_core(fiber, self.callee, core_call, flat, sync_done)
            return
        if opts.callback is None:
            thread.run_core(
                fiber, self.callee, core_call, flat, lambda _: task.exit_implicit_thread()
            )
            return
        step = thread.callback_step = partial(self._callback_step, task, thread)
        thread.run_core(fiber, self.callee, core_call, flat, step)

    def _refuse(self, task: Task, thread: Thread, error: Exception) -> None:
        """The host's arguments for ``task`` could not be lowered (``error``, a mistake of
        the host's): the task ends before it started, no core code ran, the instance
        stays usable and the host call fails with ``error``."""
        st = task.istate
        if st.exclusive_thread is thread:
            st.unlock()
        task.state = TaskState.RESOLVED
        task.threads.remove(thread)
        if thread.index is not None:
            st.threads.remove(thread.index)
            thread.index = None
        root = task.root
        if root is None:
            raise error
        root.fail(error)

    def _post_return(self, results: Any) -> None:
        post_return = self.opts.post_return
        if post_return is None:
            return
        inst = self.inst
        inst.may_leave = False
        try:
            if results is None:
                post_return()
            elif isinstance(results, tuple):
                post_return(*results)
            else:
                post_return(results)
        finally:
            inst.may_leave = True

    def _callback_step(self, task: Task, thread: Thread, packed: Any) -> None:
        """Act on a callback-ABI return code: exit, or wait for the next event."""
        if packed.__class__ is not int:
            packed = int(packed)
        code = packed & 0xF
        if code == _EXIT:
            task.exit_implicit_thread()
            # The task is over: break its cycles with its thread (the thread's bound
            # wait callbacks, task <-> thread), so that both are freed at once by
            # reference counting rather than left to the cyclic garbage collector.
            thread.wait_ready = thread.wait_cont = thread.callback_step = None
            task.implicit_thread = None
            return
        if code > _WAIT:
            unpack_callback_result(packed)  # traps
        si = (packed & 0xFFFF_FFFF) >> 4
        st = task.istate
        st.exclusive_thread = None
        if st.waiters is not None:
            wake(st)  # st.unlock() in line
        if task.state is _PENDING_CANCEL and task.deliver_pending_cancel(True):
            thread.start_waiting(
                lambda: st.exclusive_thread is None,
                lambda c: self._deliver(thread, False, (EventCode.TASK_CANCELLED, 0, 0)),
                True,
                st,
            )
            return
        if code == _YIELD:

            def after_yield(cancelled: bool) -> None:
                code = EventCode.TASK_CANCELLED if cancelled else EventCode.NONE
                self._deliver(thread, False, (code, 0, 0))

            thread.start_waiting(lambda: st.exclusive_thread is None, after_yield, True, st)
            if task.may_block():
                # The drivers let the host's event loop take a turn first (see
                # runtime.scheduler); a task that may not block yet lets no one run.
                thread.turn = thread.sched.next_turn()
            return
        array = self.inst.handles.array
        try:  # the entry, or None past the end (indices are unsigned)
            wset = array[si]
        except IndexError:
            wset = None
        if wset.__class__ is not WaitableSet and not isinstance(wset, WaitableSet):
            self.inst.handles.get(si)  # traps 'unknown handle index' when there is none
            raise Trap(f"handle index {si} used with the wrong type, expected waitable set")
        wset.num_waiting += 1
        thread.wait_set = wset
        ready = thread.wait_ready
        if ready is None:
            ready = thread.wait_ready = thread.wait_set_ready
            thread.wait_cont = partial(self._deliver, thread)
        # thread.start_waiting(ready, thread.wait_cont, True, wset, True), in line
        thread.ready_func = ready
        thread.cont = thread.wait_cont
        thread.cancellable = True
        thread.wait_on = wset
        thread.needs_lock = True
        sched = thread.sched
        sched.waiting[thread] = None
        # settle(thread) in line: the lock was released above and nothing else of
        # the instance runs, so the wait set alone decides (ready(), in line).
        for w in wset.elems:
            if w.pending_event is not None:
                if not thread.queued:
                    thread.queued = True
                    sched.ready.append(thread)
                break
        else:
            if wset.waiters is None:  # park(thread, wset), in line
                thread.parked = wset
                wset.waiters = [thread]
            else:
                park(thread, wset)

    def _deliver(self, thread: Thread, cancelled: bool, event: EventTuple | None = None) -> None:
        """Run the callback of ``thread``'s task on ``event``; ``None``: on the event
        that ended its WAIT on ``thread.wait_set`` (TASK_CANCELLED if ``cancelled``)."""
        if event is None:
            wset = thread.wait_set
            wset.num_waiting -= 1
            if cancelled:
                event = (EventCode.TASK_CANCELLED, 0, 0)
            else:
                # WaitableSet.get_pending_event in line: the first pending event, in join order.
                for w in wset.elems:
                    pending = w.pending_event
                    if pending is not None:
                        w.pending_event = None
                        try:
                            event = pending()
                        except Trap as e:  # a trap delivered with the event
                            e.with_func(self.name or "<anonymous>")
                            raise
                        break
                else:
                    raise AssertionError("no pending event")
        task = thread.task
        task.istate.exclusive_thread = thread
        callback = self.opts.callback
        assert callback is not None and event is not None
        code, p1, p2 = event
        try:
            fiber = self._fiber
            if fiber is None:
                fiber = self.fiber
            if not fiber:
                # Core code that cannot block: run the callback in line.
                self._callback_step(task, thread, callback(int(code), p1, p2))
                return
            step = thread.callback_step
            if step is None:
                step = thread.callback_step = partial(self._callback_step, task, thread)
            start = self._callback_start
            if start is None:
                start = self._callback_start = async_starter(self.callback)
            # thread.run_core(True, self.callback, ...), in line
            thread.run_fiber(start(int(code), p1, p2), step)
        except Trap as e:
            e.with_func(self.name or "<anonymous>")
            raise

    # --- the sync path ------------------------------------------------------------------

    def call(self, args: Sequence[Any], caller: ComponentInstance | None) -> Any:
        if caller is None:
            return self.call_from_host(args)
        return self._call_sync(args, caller)

    def call_from_host(self, args: Sequence[Any]) -> Any:
        """A sync call from the host: the specialised plan, built on first use."""
        self.call_from_host = fast = self._build_host_call()  # type: ignore[method-assign,assignment]
        return fast(args)

    def _build_host_call(self) -> Callable[[Sequence[Any]], Any]:
        """Specialise the host-to-guest sync call once: everything bound, one context.

        The context is reused across calls: a second host call into this function
        while one runs would have to enter the instance again, which traps first.
        """
        if self.is_async and not self.fiber:
            return self._build_async_host_call()
        if self.fiber:
            return lambda args: self.call_async_blocking(list(args), None)
        fabi, core_call = self.prepare()
        lower_params = self.lower_host_args()
        lift_results = fabi.lift_results
        inst = self.inst
        chain = tuple(inst.self_and_ancestors())
        name = self.name or "<anonymous>"
        post_return = self.opts.post_return
        borrows = any(T.contains_borrow(t) for _, t in self.type.params)
        cx = LiftLowerContext(self.opts, inst, None, fused=False)

        def call_from_host(args: Sequence[Any]) -> Any:
            for i in chain:
                if not i.may_enter:
                    raise Trap("cannot enter component instance", name)
            for i in chain:
                i.may_enter = False
            # A new task: its context-local storage starts at zero (made on first use).
            inst.sync_storage = None
            rebind_context(inst)
            try:
                if borrows:
                    scope = cx.borrow_scope = BorrowScope()
                flat = lower_params(cx, args)
                results = core_call(*flat)
                result = lift_results(cx, results)
                if borrows:
                    scope.exit()
                if post_return is not None:
                    inst.may_leave = False
                    try:
                        if results is None:
                            post_return()
                        elif type(results) is tuple:
                            post_return(*results)
                        else:
                            post_return(results)
                    finally:
                        inst.may_leave = True
                return result
            except Trap as e:
                e.with_func(name)
                poison(inst, e)
                raise
            finally:
                for i in chain:
                    i.may_enter = not i.poisoned

        return call_from_host

    def _build_async_host_call(self) -> Callable[[Sequence[Any]], Any]:
        """A sync host call of an async function: start the task, drive the store if it waits."""
        start = self.start_from_host = self._build_host_start()  # type: ignore[method-assign,assignment]
        sched = instance_state(self.inst).sched
        running_loop = asyncio._get_running_loop

        def call_from_host(args: Sequence[Any]) -> Any:
            if running_loop() is not None:
                raise WasmloomError(IN_LOOP)
            root = Root()
            start(args, root)
            if root.done:
                root.delivered = True
                if root.error is not None:
                    raise root.error
                return root.result
            return sched.drive_sync(root)

        return call_from_host

    def _call_sync(self, args: Sequence[Any], caller: ComponentInstance | None) -> Any:
        if self.fiber:
            return self.call_async_blocking(list(args), caller)
        fabi, core_call = self.prepare()
        inst = self.inst
        entering = _check_enter(inst, caller, self.name)
        for i in entering:
            i.may_enter = False
        inst.sync_storage = None  # a new task, with zeroed context-local storage
        rebind_context(inst)
        try:
            scope = BorrowScope()
            cx = LiftLowerContext(self.opts, inst, scope, fused=caller is not None)
            flat = fabi.lower_params(cx, args)
            results = core_call(*flat)
            result = fabi.lift_results(cx, results)
            scope.exit()
            self._post_return(results)
            return result
        except Trap as e:
            e.with_func(self.name or "<anonymous>")
            poison(inst, e)
            raise
        finally:
            for i in entering:
                i.may_enter = not i.poisoned
