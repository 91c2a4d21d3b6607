"""The task built-ins: ``task.return``, ``task.cancel``, ``context.get``/``set``,
``backpressure.inc``/``dec``, ``subtask.cancel``, ``subtask.drop``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any, cast

from wasmloom import types as T
from wasmloom.abi.context import LiftLowerContext
from wasmloom.abi.funcabi import FuncABI
from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import (
    _SYNC_IN_SET,
    _check_leave,
    _check_may_block,
    _get,
    _task,
    _thread,
    _wait_sync,
)
from wasmloom.runtime.tasks import (
    BLOCKED,
    Subtask,
    instance_state,
)


def canon_task_return(inst: Any, result_t: T.ValType | None, opts: Any) -> Callable[..., None]:
    """``canon task.return`` for one definition: the core function's body.

    The lifting plan is derived once here. Results never hold borrows, so
    one lift context serves every call.
    """
    lift = FuncABI(T.FuncType((), result_t), opts, "lift").lift_task_return
    shared = LiftLowerContext(opts, inst, None)
    sched = instance_state(inst).sched
    # The options of the last lift whose tasks this definition returned for.
    matched: list[Any] = [None]

    def task_return(*flat: Any) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        t = sched.current
        if t is None or t.task.inst is not inst:
            raise Trap("`task.return` called outside of an async task")
        task = t.task
        r = task.ft.result
        topts = task.opts
        if (
            not topts.is_async
            or (r is not result_t and r != result_t)
            or (topts is not matched[0] and not _same_lift_options(opts, topts))
        ):
            raise Trap("invalid `task.return` signature and/or options for current task")
        matched[0] = topts
        lr = task.lift_return
        task.return_((lift if lr is None else lr)(shared, flat))

    return task_return


def _same_lift_options(ret: Any, lifted: Any) -> bool:
    """Whether a ``task.return``'s options (``ret``) lift values as the task's ``canon lift`` does.

    The spec's ``LiftOptions.equal``: the same string encoding and the same
    memory, by identity of the memory (the same memory reached through other
    aliases or instances is the same). As in Wasmtime, a ``task.return``
    without a memory (its result needs none) matches whatever the lift's.
    """
    if ret.string_encoding != lifted.string_encoding:
        return False
    mem = ret.memory
    return mem is None or _same_memory(mem, lifted.memory)


def _same_memory(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    # Two wrappers of one linear memory see the same bytes at the same address.
    va, vb = a.view(), b.view()
    if len(va) != len(vb) or not len(va):
        return False
    return ctypes.addressof(ctypes.c_char.from_buffer(va)) == ctypes.addressof(
        ctypes.c_char.from_buffer(vb)
    )


def canon_task_cancel(inst: Any) -> None:
    _check_leave(inst)
    task = _task(inst, "task.cancel")
    if not task.opts.is_async:
        raise Trap("`task.cancel` called by a synchronous task")
    task.cancel()


def _storage(inst: Any) -> list[int]:
    t = _thread(inst)
    # A sync-lifted call of a sync-typed function runs without a Thread object
    # (the fast path); it uses the instance's own slots.
    if t is None:
        return instance_state(inst).sync_storage
    s = t.storage
    if s is None:
        s = t.storage = [0, 0]
    return s


def canon_context_get(inst: Any, i: int) -> int:
    return _storage(inst)[i]


def canon_context_set(inst: Any, i: int, v: int) -> None:
    _storage(inst)[i] = v


# Wasmtime's words for leaving the counter's range either way (2^16 or -1).
_BACKPRESSURE_RANGE = "backpressure counter overflow"


def canon_backpressure_inc(inst: Any) -> None:
    st = instance_state(inst)
    if st.backpressure + 1 >= 2**16:
        raise Trap(_BACKPRESSURE_RANGE)
    st.backpressure += 1


def canon_backpressure_dec(inst: Any) -> None:
    st = instance_state(inst)
    if st.backpressure == 0:
        raise Trap(_BACKPRESSURE_RANGE)
    st.backpressure -= 1


# --- subtasks --------------------------------------------------------------------------------


def canon_subtask_cancel(inst: Any, is_async: bool, i: int) -> int:
    _check_leave(inst)
    if not is_async:
        _check_may_block(inst)
    subtask: Subtask = _get(inst, i, Subtask, "subtask")
    if subtask.resolve_delivered():
        raise Trap("`subtask.cancel` called after terminal status delivered")
    if subtask.cancellation_requested:
        raise Trap("`subtask.cancel` called twice")
    if subtask.in_waitable_set() and not is_async:
        raise Trap(_SYNC_IN_SET)
    if not subtask.resolved():
        subtask.cancellation_requested = True
        assert subtask.on_cancel is not None
        subtask.on_cancel(inst)
        if not subtask.resolved():
            if not is_async:
                return cast(int, _wait_sync(inst, subtask, lambda: _cancelled_state(subtask, i)))
            return BLOCKED
    return _cancelled_state(subtask, i)


def _cancelled_state(subtask: Subtask, i: int) -> int:
    if not subtask.has_pending_event():
        subtask.set_pending_event(lambda: subtask.event(i))
    subtask.get_pending_event()
    return int(subtask.state)


def canon_subtask_drop(inst: Any, i: int) -> None:
    _check_leave(inst)
    s: Subtask = _get(inst, i, Subtask, "subtask")
    s.drop()
    inst.handles.remove(i)


def _subtask_drop_of(inst: Any) -> Callable[[int], None]:
    """:func:`canon_subtask_drop` bound to ``inst``, with the handle lookups in line."""
    table = inst.handles
    array = table.array

    def subtask_drop(i: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        i &= 0xFFFF_FFFF
        s = array[i] if 0 < i < len(array) else None
        if not isinstance(s, Subtask):
            canon_subtask_drop(inst, i)  # traps with the general message
            return
        s.drop()
        array[i] = None
        table.free.append(i)

    return subtask_drop
