"""``canon lower``: a component function as a core function a guest imports.

The core functions are raw wasmtime host functions
(:func:`wasmloom.core.host_func`), so a guest reaches them without a
Python-level type check. The other canon built-ins are in
:mod:`wasmloom.runtime.builtins`; ``canon lift`` is :mod:`wasmloom.runtime.lift`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi.context import CanonOptions, LiftLowerContext
from wasmloom.abi.funcabi import FuncABI, LiftShape, lift_calls, lift_functions, lift_shape
from wasmloom.abi.handles import BORROWS_REMAIN, BorrowScope
from wasmloom.errors import Trap
from wasmloom.runtime.hostfunc import (
    HostFunc,
    cancel_host_call,
    fail_host_call,
    settle_host_call,
)
from wasmloom.runtime.lift import ComponentFunc
from wasmloom.runtime.tasks import (
    CANCELLED,
    Subtask,
    SubtaskState,
    Thread,
    instance_state,
)
from wasmloom.runtime.traps import SYNC_BLOCK, at_boundary, check_may_leave
from wasmloom.runtime.waitables import EventCode, EventTuple, Waitable

if TYPE_CHECKING:
    import asyncio

    from wasmloom.runtime import hostcoro
    from wasmloom.runtime.scope import ComponentInstance
else:
    from wasmloom.aio import asyncio


def lower(
    store: core.CoreStore,
    inst: ComponentInstance,
    f: ComponentFunc,
    opts: CanonOptions,
    fabi: FuncABI | None = None,
) -> core.CoreFunc:
    """``canon lower``: a core function that calls ``f`` on behalf of ``inst``.

    ``fabi``, when given, is the lowering plan of ``f``'s type under ``opts``
    (derived once per component by an instantiation plan)."""
    ft = f.type
    if fabi is None:
        fabi = FuncABI(ft, opts, "lower", getattr(f, "classes", None))
    flat_ft = fabi.core_type
    fused = not isinstance(f, HostFunc)
    if opts.is_async:
        lowered_async = _lower_subtask(inst, f, opts, fabi, fused)
        if (
            isinstance(f, HostFunc)
            and f.is_coroutine
            and not _has_borrows(fabi)
        ):
            lowered_async = _lower_host_coroutine(inst, f, opts, fabi, lowered_async)
        return core.host_func(store, flat_ft, lowered_async)
    if getattr(f, "is_async", False) or getattr(f, "is_coroutine", False):
        # A sync lowering of a callee that may not finish at once: the caller blocks.
        instance_state(inst).may_block = True
        return core.async_host_func(
            store,
            flat_ft,
            _lower_subtask(inst, f, opts, fabi, fused),
            on_sync=lambda: check_may_leave(inst),
        )
    return core.host_func(store, flat_ft, _sync_lowered(inst, f, opts, fabi))


def deferrable(f: ComponentFunc, opts: CanonOptions) -> bool:
    """Whether :func:`lower_deferred` may lower ``f`` under ``opts``: a sync lowering
    of a callee that returns at once (the core function is then a plain host function)."""
    return not (opts.is_async or getattr(f, "is_async", False) or getattr(f, "is_coroutine", False))


def lower_deferred(
    store: core.CoreStore,
    inst: ComponentInstance,
    f: ComponentFunc,
    opts: CanonOptions,
    core_type: T.CoreFuncType,
    plan: Callable[[], FuncABI],
) -> core.CoreFunc:
    """:func:`lower` of a :func:`deferrable` ``f``, whose lowering plan (``plan()``)
    and Python function are made when the guest first calls it: a command that imports
    many functions and calls a few makes only those. ``core_type`` is the flattened
    type of ``f`` under ``opts`` (the plan's ``core_type``)."""
    return core.deferred_host_func(store, core_type, partial(_lowered_now, inst, f, opts, plan))


def _lowered_now(
    inst: ComponentInstance, f: ComponentFunc, opts: CanonOptions, plan: Callable[[], FuncABI]
) -> core.HostFn:
    """What :func:`lower_deferred` makes on the first call: the plan, then the function."""
    return _sync_lowered(inst, f, opts, plan())


def _has_borrows(fabi: FuncABI) -> bool:
    """Whether a parameter of ``fabi``'s function type holds a borrow (kept in its memo)."""
    got: bool | None = fabi.memo.get(_has_borrows)
    if got is None:
        got = fabi.memo[_has_borrows] = any(T.contains_borrow(t) for _, t in fabi.ft.params)
    return got


def _sync_lowered(
    inst: ComponentInstance, f: ComponentFunc, opts: CanonOptions, fabi: FuncABI
) -> core.HostFn:
    """The host function of a sync lowering of ``f``, a callee that returns at once."""
    lift_params = fabi.lift_params
    lower_results = fabi.lower_results
    fused = not isinstance(f, HostFunc)
    if isinstance(f, HostFunc):
        # HostFunc.call in line: a sync host function takes the lifted arguments.
        fn = f.fn

        def call(args: list[Any], caller: Any) -> Any:
            return fn(*args)

        direct = True
    else:
        call = f.call
        direct = False
    borrows = _has_borrows(fabi)
    if fabi.flat_param_lifts is not None:
        written: core.HostFn = _written_out(
            inst, fn if direct else call, direct, fused, opts, fabi, borrows
        )
        return written
    if not borrows:
        # No borrows to track: one context serves every call. Calls that overlap
        # (a fiber blocked in the callee) only share `cx.mv`, which each step
        # re-fetches.
        shared = LiftLowerContext(opts, inst, None, fused=fused)

        def lowered_plain(*flat_args: Any) -> Any:
            if not inst.may_leave:
                raise Trap("cannot leave component instance")
            try:
                if direct:
                    result = fn(*lift_params(shared, flat_args))
                else:
                    result = call(lift_params(shared, flat_args), inst)
                out = lower_results(shared, result, flat_args)
            except Trap as e:
                if fused:
                    at_boundary(e)
                raise
            if not out:
                return None
            return out[0] if len(out) == 1 else tuple(out)

        return lowered_plain

    # One context (with its borrow scope) for the calls that do not overlap: a call
    # made while another is in progress (the callee called back into the guest; the
    # context's borrow scope is set) gets its own.
    cx0 = LiftLowerContext(opts, inst, None, fused=fused)

    def lowered(*flat_args: Any) -> Any:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        scope = BorrowScope()
        cx = cx0 if cx0.borrow_scope is None else LiftLowerContext(opts, inst, None, fused=fused)
        cx.borrow_scope = scope
        try:
            if direct:
                result = fn(*lift_params(cx, flat_args))
            else:
                result = call(lift_params(cx, flat_args), inst)
            out = lower_results(cx, result, flat_args)
        except Trap as e:
            if fused:
                at_boundary(e)
            raise
        finally:
            cx.borrow_scope = None
        scope.exit()
        if not out:
            return None
        return out[0] if len(out) == 1 else tuple(out)

    return lowered


def _written_out_source(
    nargs: int,
    shape: LiftShape,
    direct: bool,
    fused: bool,
    borrows: bool,
    mem: bool,
    result: str,
    nresults: int,
) -> str:
    """Source of a factory of :func:`_written_out`'s function (see there)."""
    args = [f"a{i}" for i in range(nargs)]
    nflat = nargs - (result == "spilled")
    exprs, make_it = lift_calls(shape, args[:nflat], f"({''.join(f'{a}, ' for a in args[:nflat])})")
    lifted = ", ".join(exprs)
    refresh = ["cx.lift_used = 0", "if not cx.stable:", "    cx.refresh()"]
    body: list[str] = []
    if mem:
        body += refresh
    if make_it is not None:
        body.append(make_it)
    body.append(f"result = target({lifted})" if direct else f"result = target([{lifted}], inst)")
    if result == "flat":
        body += [*refresh, "out = []", "lower(cx, result, out)"]
    elif result == "value":
        body.append("out = lower(cx, result)")
    elif result == "spilled":
        body += [
            *refresh,
            f"ptr = {args[-1]} & cx.ptr_mask",
            "if ptr & amask or ptr + size > len(cx.mv):",
            "    cx.check_range(ptr, align, size, 'value')",
            "rstore(cx, result, ptr)",
        ]
    lines = [
        "def factory(inst, target, cx0, new_cx, lifts, lower, size, align, rstore):",
        f"    ({''.join(f'l{i}, ' for i in range(len(shape)))}) = lifts",
        "    amask = align - 1",
        f"    def lowered({', '.join(args)}):",
        "        if not inst.may_leave:",
        "            raise Trap('cannot leave component instance')",
    ]
    if borrows:
        # cx0 unless a call in progress has it (its borrow scope is set)
        lines += [
            "        scope = BorrowScope()",
            "        cx = cx0 if cx0.borrow_scope is None else new_cx()",
            "        cx.borrow_scope = scope",
        ]
    else:
        lines.append("        cx = cx0")
    if not (fused or borrows):
        lines += [f"        {line}" for line in body]
    else:
        lines.append("        try:")
        lines += [f"            {line}" for line in body]
    if fused:
        lines += ["        except Trap as e:", "            at_boundary(e)", "            raise"]
    if borrows:
        lines += [
            "        finally:",
            "            cx.borrow_scope = None",
            # scope.exit(), in line
            "        scope.ended = True",
            "        lenders = scope.lenders",
            "        if lenders:",
            "            for h in lenders:",
            "                h.num_lends -= 1",
            "            scope.lenders = ()",
            "        if scope.num_borrows:",
            "            raise Trap(REMAIN)",
        ]
    if result == "value":
        lines.append("        return out")
    elif result != "flat" or nresults == 0:
        lines.append("        return None")
    elif nresults == 1:
        lines.append("        return out[0]")
    else:
        lines.append("        return tuple(out)")
    lines.append("    return lowered")
    return "\n".join(lines)


def _written_out(
    inst: ComponentInstance,
    target: Any,
    direct: bool,
    fused: bool,
    opts: CanonOptions,
    fabi: FuncABI,
    borrows: bool,
) -> Any:
    """A sync lowering of a sync callee whose parameters are not spilled, written out.

    One function of exactly the core type's arity does what ``lowered`` (or
    ``lowered_plain``, without ``borrows``) of :func:`lower` does with
    ``fabi.lift_params`` and ``fabi.lower_results``, their steps in line: the
    arguments lifted one after the other (a list for ``target`` unless
    ``direct``: then ``target(*args)``), the result lowered flat (a one-slot
    result that needs no memory straight to its core value) or stored through
    the return pointer (checked against the memory first).
    """
    memo_key = (_written_out, direct, fused, borrows)
    made = fabi.memo.get(memo_key)
    if made is None:
        made = fabi.memo[memo_key] = _written_out_parts(fabi, direct, fused, borrows)
    factory, lifts, lower_result, size, align, rstore = made
    return factory(
        inst,
        target,
        LiftLowerContext(opts, inst, None, fused=fused),
        lambda: LiftLowerContext(opts, inst, None, fused=fused),
        lifts,
        lower_result,
        size,
        align,
        rstore,
    )


def _written_out_parts(
    fabi: FuncABI, direct: bool, fused: bool, borrows: bool
) -> tuple[Any, list[Any], Any, int, int, Any]:
    """What :func:`_written_out` derives from ``fabi`` alone: the factory of the function
    and the arguments of it that no instance changes."""
    parts = fabi.flat_param_lifts
    assert parts is not None
    codecs, mem = parts
    rc = fabi.result_codec
    if rc is None:
        result = "none"
    elif fabi.result_spilled:
        result = "spilled"
    else:  # a "value" lowers without memory, to its one core value
        result = "value" if rc.lower_value is not None and rc.pure else "flat"
    nresults = 0 if rc is None else len(rc.flat)
    shape = lift_shape(codecs)
    key = (len(fabi.core_type.params), shape, direct, fused, borrows, mem, result, nresults)
    factory = _written_out_factories.get(key)
    if factory is None:
        namespace: dict[str, Any] = {
            "Trap": Trap,
            "BorrowScope": BorrowScope,
            "REMAIN": BORROWS_REMAIN,
            "at_boundary": at_boundary,
        }
        exec(_written_out_source(*key), namespace)
        factory = _written_out_factories[key] = namespace["factory"]
    return (
        factory,
        lift_functions(codecs),
        None if rc is None else (rc.lower_value if result == "value" else rc.lower_flat),
        0 if rc is None else rc.size,
        1 if rc is None else rc.align,
        None if rc is None else rc.store,
    )


_written_out_factories: dict[tuple[Any, ...], Any] = {}


def _flat_out(out: list[Any]) -> Any:
    if not out:
        return None
    return out[0] if len(out) == 1 else tuple(out)


def _lower_subtask(
    inst: ComponentInstance, f: ComponentFunc, opts: CanonOptions, fabi: FuncABI, fused: bool
) -> Any:
    """The spec's ``canon_lower`` through a :class:`Subtask` (async lowering, or an async callee)."""
    lift_params = fabi.lift_params
    lower_results = fabi.lower_results
    is_async = opts.is_async
    invoke = f.invoke
    host_coroutine = bool(getattr(f, "is_coroutine", False))
    blocks_sync = not is_async and fused and bool(f.type.is_async)

    def lowered(*flat_args: Any) -> Any:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        thread = None if is_async else current_thread(inst)
        if blocks_sync:
            # A task that may not block may not call an async-typed function
            # synchronously, even one that would not block.
            if thread is None:
                raise Trap(SYNC_BLOCK)
            thread.check_may_block()
        subtask = Subtask()
        lenders = subtask.lenders = BorrowScope()
        cx = LiftLowerContext(opts, inst, lenders, fused=fused)
        progress: list[Any] = [None]

        def on_start() -> list[Any]:
            if progress[0] is not None:
                progress[0]()
            subtask.state = SubtaskState.STARTED
            return lift_params(cx, flat_args)

        def on_resolve(result: Any) -> None:
            if progress[0] is not None:
                progress[0]()
            if result is CANCELLED:
                if subtask.state is SubtaskState.STARTING:
                    subtask.resolve(SubtaskState.CANCELLED_BEFORE_STARTED, [])
                else:
                    subtask.resolve(SubtaskState.CANCELLED_BEFORE_RETURNED, [])
            else:
                subtask.resolve(SubtaskState.RETURNED, lower_results(cx, result, flat_args))

        subtask.on_cancel = invoke(on_start, on_resolve, inst)
        if not is_async:
            if subtask.resolved():
                subtask.deliver_resolve()
                return _flat_out(subtask.flat_results)
            if thread is None:
                raise Trap(SYNC_BLOCK)

            def finish(cancelled: bool) -> Any:
                subtask.deliver_resolve()
                return _flat_out(subtask.flat_results)

            if host_coroutine:
                # Waiting for the host is allowed even in a synchronous task.
                thread.start_waiting(subtask.resolved, None, False, subtask)
                return thread.suspend_native(finish)
            return thread.block(subtask.resolved, False, finish, subtask)
        if subtask.resolved():
            subtask.deliver_resolve()
            return int(SubtaskState.RETURNED)
        i = inst.handles.add(subtask)

        def on_progress() -> None:
            subtask.set_pending_event(lambda: subtask.event(i))

        progress[0] = on_progress
        return int(subtask.state) | (i << 4)

    return lowered


_RETURNED = int(SubtaskState.RETURNED)
_STARTED = SubtaskState.STARTED
_SUB_RETURNED = SubtaskState.RETURNED
_SUBTASK_EVENT = EventCode.SUBTASK
# The fields _lower_host_coroutine sets in line for Subtask.__init__ (kept in step by this check).
_SUBTASK_FIELDS = {"pending_event", "wset", "has_sync_waiter", "state", "lenders"}
_SUBTASK_FIELDS |= {"cancellation_requested", "flat_results", "delivered", "on_cancel", "waiters"}
if {*Subtask.__slots__, *Waitable.__slots__} != _SUBTASK_FIELDS:
    raise AssertionError("_lower_host_coroutine: Subtask fields changed")
# The results of a subtask not resolved yet (never mutated: resolving replaces it).
_NO_RESULTS: list[Any] = []


class _HostSubtask(Subtask):
    """The subtask of an async-lowered call of a host coroutine that suspended.

    It is its own completion: :meth:`on_done` (the coroutine finished, on
    its worker) resolves it, lowers the results and makes its SUBTASK event
    pending; :meth:`cancel` is its ``on_cancel``.
    """

    __slots__ = (
        "cancelled",
        "cx",
        "flat_args",
        "handle",
        "index",
        "inst",
        "lower",
        "root",
        "sched",
    )

    cancelled: bool
    cx: LiftLowerContext
    flat_args: tuple[Any, ...]
    handle: hostcoro.HostCoroutine | None
    index: int
    inst: Any
    lower: Any
    root: Any
    sched: Any

    def event_now(self) -> EventTuple:
        if not self.delivered and self.state >= _SUB_RETURNED:
            # Subtask.event in line (a host subtask lends nothing).
            self.delivered = True
            return (_SUBTASK_EVENT, self.index, int(self.state))
        return self.event(self.index)

    def resolve_with(self, result: Any) -> None:
        self.set_pending_event(self.event_now)
        if result is CANCELLED:
            self.resolve(SubtaskState.CANCELLED_BEFORE_RETURNED, [])
        else:
            self.resolve(SubtaskState.RETURNED, self.lower(self.cx, result, self.flat_args))

    def finished(self, result: Any, exc: BaseException | None, was_cancelled: bool) -> None:
        self.handle = None
        self.on_cancel = None
        settle_host_call(
            self.resolve_with, self.inst, self.root, result, exc, was_cancelled, self.cancelled
        )

    def on_done(self, result: Any, exc: BaseException | None, was_cancelled: bool) -> None:
        sched = self.sched
        sched.host_pending -= 1
        try:
            if exc is None and not was_cancelled:
                # The common case, :meth:`finished` in line: lower the results, RETURNED.
                self.handle = None
                self.on_cancel = None
                self.set_pending_event(self.event_now)
                try:
                    flat = self.lower(self.cx, result, self.flat_args)
                except Exception as e:
                    fail_host_call(self.inst, self.root, e)
                else:
                    self.state = _SUB_RETURNED
                    self.flat_results = flat
            else:
                self.finished(result, exc, was_cancelled)
        finally:
            sched.run_ready()

    def cancel(self, _caller: Any = None) -> None:
        cancel_host_call(self)


def _lower_host_coroutine(
    inst: ComponentInstance, f: HostFunc, opts: CanonOptions, fabi: FuncABI, general: Any
) -> Any:
    """Async lowering of a host coroutine whose parameters hold no borrows.

    Same behaviour as :func:`_lower_subtask` (which it falls back to outside
    a running event loop), without its per-call closures and context: the
    first step runs at once (:func:`hostcoro.start`); a call that finishes
    in it is RETURNED with no subtask, one that suspends gets a
    :class:`_HostSubtask`.
    """
    from wasmloom.runtime import hostcoro  # with asyncio: only for a host coroutine

    lift_params = fabi.lift_params
    lower_results = fabi.lower_results
    fn = f.fn
    sched = instance_state(inst).sched
    # No borrows: one context serves every call (overlapping calls only share `mv`).
    shared = LiftLowerContext(opts, inst, None, fused=False)
    running_loop = asyncio._get_running_loop
    start = hostcoro.start
    handles_add = inst.handles.add
    new_subtask = _HostSubtask.__new__
    has_params = bool(f.type.params)

    def lowered(*flat_args: Any) -> Any:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        loop = running_loop()
        if loop is None:
            return general(*flat_args)
        cur = sched.current
        root = cur.task.root if cur is not None else None
        coro = fn(*lift_params(shared, flat_args)) if has_params else fn()
        h, value = start(sched, loop, coro)
        if h is None:
            lower_results(shared, value, flat_args)
            return _RETURNED
        sub = new_subtask(_HostSubtask)
        # Subtask.__init__ in line (the fields of Waitable and Subtask), then ours.
        sub.pending_event = None
        sub.wset = None
        sub.has_sync_waiter = False
        sub.waiters = None
        sub.state = _STARTED
        sub.lenders = None
        sub.cancellation_requested = False
        sub.flat_results = _NO_RESULTS
        sub.delivered = False
        sub.cancelled = False
        sub.cx = shared
        sub.flat_args = flat_args
        sub.lower = lower_results
        sub.inst = inst
        sub.root = root
        sub.sched = sched
        sub.handle = h
        sub.on_cancel = sub.cancel
        sched.host_pending += 1
        h.on_done = sub.on_done
        i = sub.index = handles_add(sub)
        return 1 | (i << 4)

    return lowered


def current_thread(inst: Any) -> Thread | None:
    """The running thread, if it is a thread of a task of ``inst`` (else ``None``)."""
    t = instance_state(inst).sched.current
    if t is None or t.task.inst is not inst:
        return None
    return t
