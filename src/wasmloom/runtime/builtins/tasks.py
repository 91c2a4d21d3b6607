"""The task built-ins: task.return and task.cancel, context.*, backpressure.*, subtask.*."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, cast

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi.context import LiftLowerContext
from wasmloom.abi.funcabi import FuncABI
from wasmloom.abi.layout import MAX_FLAT_PARAMS, flatten_types
from wasmloom.binary import ast
from wasmloom.errors import LinkError, Trap
from wasmloom.runtime.builtins.common import (
    _SYNC_IN_SET,
    CT,
    I32,
    _check_leave,
    _check_may_block,
    _get,
    _maker,
    _options,
    _task,
    _wait_sync,
)
from wasmloom.runtime.context_slots import ContextSlots
from wasmloom.runtime.scheduler import wake
from wasmloom.runtime.tasks import (
    BLOCKED,
    Subtask,
    instance_state,
)

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope


# The plan of each ``task.return`` definition, by its identity: the definition, its
# result type, pointer type and string encoding, and the core parameter types and lifting they give.
# Kept only for result types that refer to no component instance's resource type,
# so an entry keeps no instance alive (and keeps ``d``, so its identity stays its own).
_task_return_plans: dict[
    int, tuple[ast.CanonBuiltin, Any, tuple[str, str], tuple[str, ...], Any]
] = {}
_TASK_RETURN_PLANS_MAX = 1024


def _task_return_plan(
    d: ast.CanonBuiltin, result_t: T.ValType | None, opts: Any
) -> tuple[tuple[str, ...], Any]:
    """The core parameter types of ``task.return`` with result ``result_t`` and the lifting
    of its values (``opts`` async), derived once per definition and result type."""
    ptr_type = opts.ptr_type
    form = (ptr_type, opts.string_encoding)
    hit = _task_return_plans.get(id(d))
    if (
        hit is not None
        and hit[0] is d
        and (hit[1] is result_t or hit[1] == result_t)
        and hit[2] == form
    ):
        return hit[3], hit[4]
    flat = flatten_types([result_t] if result_t is not None else [], ptr_type)
    if len(flat) > MAX_FLAT_PARAMS:
        flat = [ptr_type]
    lift = FuncABI(T.FuncType((), result_t), opts, "lift").lift_task_return
    if not _holds_instance_resource(result_t):
        if len(_task_return_plans) >= _TASK_RETURN_PLANS_MAX:
            _task_return_plans.clear()
        _task_return_plans[id(d)] = (d, result_t, form, tuple(flat), lift)
    return tuple(flat), lift


def _holds_instance_resource(t: Any) -> bool:
    """Whether ``t`` (stream and future element types included) names a resource type a
    component instance defined."""

    def visit(u: Any) -> bool:
        if isinstance(u, T.OwnType | T.BorrowType):
            return u.rt.impl is not None
        if isinstance(u, T.StreamType | T.FutureType):
            return _holds_instance_resource(u.t)
        return False

    return T.contains(t, visit)


def canon_task_return(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon task.return``: hand the current task's result to its caller.

    The lifting plan is derived once here. Results never hold borrows, so
    one lift context serves every call.
    """
    result_t = scope.opt_valtype(d.result) if d.has_result else None
    opts = _options(scope, d)
    opts.is_async = True
    flat, lift = _task_return_plan(d, result_t, opts)
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

    return core.host_func(store, CT(flat, ()), task_return)


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


def canon_task_cancel(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon task.cancel``: end the current (async) task as cancelled."""

    def task_cancel() -> None:
        _check_leave(inst)
        task = _task(inst, "task.cancel")
        if not task.opts.is_async:
            raise Trap("`task.cancel` called by a synchronous task")
        task.cancel()

    return core.host_func(store, CT((), ()), task_cancel)


def _context_slot(d: ast.CanonBuiltin) -> tuple[int, str]:
    """The slot a ``context.get``/``set`` reaches, and its core value type."""
    slot = d.index or 0
    vt = d.core_valtype or I32
    if slot > 1:
        raise LinkError(f"invalid context slot {slot}")
    if vt not in ("i32", "i64"):
        raise LinkError(f"invalid context value type {vt}")
    return slot, vt


# The context.get/set functions of one instance, in wasm: the two slots are 64-bit
# words at 0 and 8 of the module's memory (an i32 get reads the low half, an i32
# set zero-extends), so the guest reaches them without a call into Python; the word
# at 16 is clear when they may be another storage's, and "resync" loads the right
# ones (ContextSlots.rebind).
_CONTEXT_WAT = """(module
  (import "ctx" "resync" (func $resync))
  (memory (export "slots") 1 1)
  (func $valid (if (i64.eqz (i64.load (i32.const 16))) (then (call $resync))))
  (func (export "get0_i32") (result i32) (call $valid) (i32.load (i32.const 0)))
  (func (export "get1_i32") (result i32) (call $valid) (i32.load (i32.const 8)))
  (func (export "set0_i32") (param i32)
    (call $valid) (i64.store (i32.const 0) (i64.extend_i32_u (local.get 0))))
  (func (export "set1_i32") (param i32)
    (call $valid) (i64.store (i32.const 8) (i64.extend_i32_u (local.get 0))))
  (func (export "get0_i64") (result i64) (call $valid) (i64.load (i32.const 0)))
  (func (export "get1_i64") (result i64) (call $valid) (i64.load (i32.const 8)))
  (func (export "set0_i64") (param i64) (call $valid) (i64.store (i32.const 0) (local.get 0)))
  (func (export "set1_i64") (param i64) (call $valid) (i64.store (i32.const 8) (local.get 0))))"""
_context_wasm: list[bytes] = []


def _slots_are_wasm(store: core.CoreStore) -> bool:
    """Whether ``store``'s guests may have their context slots in wasm: the context
    module is one more core instance and memory (of one page) in the store, so it
    is used only where no limit counts those (:class:`~wasmloom.StoreLimits`)."""
    lim = store.limits
    return (
        lim.instances is None
        and lim.memories is None
        and (lim.memory_size is None or lim.memory_size >= 65536)
    )


def _context_func(store: core.CoreStore, inst: ComponentInstance, name: str) -> core.CoreFunc:
    """The function ``name`` (``get0_i32``, ``set1_i64``, ...) of ``inst``'s context slots,
    made on first use.

    The instance's :class:`~wasmloom.runtime.context_slots.ContextSlots` keep the slots of
    the code running in ``inst``: in the memory of a small wasm module whose
    functions the guest calls without entering Python, or, in a store whose
    limits count core instances or memories, in a list that host functions read
    and write alike.
    """
    st = instance_state(inst)
    ctx = st.ctx
    if ctx is None:
        ctx = ContextSlots(inst, st.sched)
        if _slots_are_wasm(store):
            if not _context_wasm:
                _context_wasm.append(core.wat2wasm(_CONTEXT_WAT))
            module = core.compile_module(store.engine, _context_wasm[0])
            resync = core.host_func(store, CT((), ()), ctx.rebind)
            ci = ctx.module = core.instantiate(store, module, [resync])
            ctx.view = ci.memory("slots").view()[:24].cast("Q")
        else:
            ctx.view = [0, 0, 0]
        st.ctx = ctx
        ctx.rebind()
    if ctx.module is not None:
        return ctx.module.func(name)
    return _host_context_func(store, ctx, name)


def _host_context_func(store: core.CoreStore, ctx: ContextSlots, name: str) -> core.CoreFunc:
    """``name`` of :data:`_CONTEXT_WAT` as a host function over ``ctx.view``, a list."""
    i = int(name[3])
    vt = name[5:]
    mask = 0xFFFFFFFF if vt == "i32" else 0xFFFFFFFFFFFFFFFF
    v = ctx.view
    rebind = ctx.rebind
    if name.startswith("get"):

        def context_get() -> int:
            if not v[2]:
                rebind()
            return v[i] & mask  # type: ignore[no-any-return]

        return core.host_func(store, CT((), (vt,)), context_get)

    def context_set(value: int) -> None:
        if not v[2]:
            rebind()
        v[i] = value & mask

    return core.host_func(store, CT((vt,), ()), context_set)


def canon_context_get(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon context.get``: the current thread's context slot ``i`` (see
    :class:`~wasmloom.runtime.context_slots.ContextSlots`), read in wasm."""
    i, vt = _context_slot(d)
    return _context_func(store, inst, f"get{i}_{vt}")


def canon_context_set(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon context.set``: set the current thread's context slot ``i``, in wasm."""
    i, vt = _context_slot(d)
    return _context_func(store, inst, f"set{i}_{vt}")


# Wasmtime's words for leaving the counter's range either way (2^16 or -1).
_BACKPRESSURE_RANGE = "backpressure counter overflow"


def canon_backpressure_inc(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon backpressure.inc``: one more reason to hold new tasks back."""

    def backpressure_inc() -> None:
        st = instance_state(inst)
        if st.backpressure + 1 >= 2**16:
            raise Trap(_BACKPRESSURE_RANGE)
        st.backpressure += 1

    return core.host_func(store, CT((), ()), backpressure_inc)


def canon_backpressure_dec(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon backpressure.dec``: one reason fewer to hold new tasks back."""

    def backpressure_dec() -> None:
        st = instance_state(inst)
        if st.backpressure == 0:
            raise Trap(_BACKPRESSURE_RANGE)
        st.backpressure -= 1
        if st.waiters is not None:
            wake(st)  # tasks held back may enter now

    return core.host_func(store, CT((), ()), backpressure_dec)


# --- subtasks --------------------------------------------------------------------------------


def canon_subtask_cancel(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon subtask.cancel``: ask subtask ``i`` to stop; its state once it did (or BLOCKED)."""
    is_async = d.is_async

    def subtask_cancel(i: int) -> int:
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
                    return cast(
                        int, _wait_sync(inst, subtask, lambda: _cancelled_state(subtask, i))
                    )
                return BLOCKED
        return _cancelled_state(subtask, i)

    return _maker(store, inst, not is_async)(CT((I32,), (I32,)), subtask_cancel)


def _cancelled_state(subtask: Subtask, i: int) -> int:
    if not subtask.has_pending_event():
        subtask.set_pending_event(lambda: subtask.event(i))
    subtask.get_pending_event()
    return int(subtask.state)


def _subtask_drop(inst: Any, i: int) -> None:
    """``subtask.drop`` with every guard: traps with the general messages."""
    _check_leave(inst)
    s: Subtask = _get(inst, i, Subtask, "subtask")
    s.drop()
    inst.handles.remove(i)


def canon_subtask_drop(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon subtask.drop``: remove a resolved subtask from the table.

    The handle lookups are in line; anything unusual goes through
    :func:`_subtask_drop`.
    """
    table = inst.handles
    array = table.array

    def subtask_drop(i: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        i &= 0xFFFF_FFFF
        s = array[i] if 0 < i < len(array) else None
        if not isinstance(s, Subtask):
            _subtask_drop(inst, i)  # traps with the general message
            return
        s.drop()
        array[i] = None
        table.free.append(i)

    return core.host_func(store, CT((I32,), ()), subtask_drop)
