"""Guards and helpers shared by the canon built-ins, and the shape of a built-in.

A built-in is one function ``canon_<name>(store, inst, scope, d)`` (see
:data:`Builtin`): it reads the immediates of the ``canon`` definition ``d``
once, then returns the core function a guest of ``inst`` imports, whose body
is the built-in's guards first, then its work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi.context import CanonOptions
from wasmloom.binary import ast
from wasmloom.errors import Trap
from wasmloom.runtime.tasks import Task, Thread, instance_state
from wasmloom.runtime.traps import SYNC_BLOCK, check_may_leave
from wasmloom.runtime.waitables import EventTuple, Waitable

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope

#: ``canon_<name>(store, inst, scope, d)``: the core function of the built-in
#: definition ``d`` for instance ``inst``, its immediates resolved in ``scope``.
Builtin: TypeAlias = Callable[
    [core.CoreStore, "ComponentInstance", "Scope", ast.CanonBuiltin], core.CoreFunc
]

I32 = "i32"
CT = T.CoreFuncType


def _options(scope: Scope, d: ast.CanonBuiltin) -> CanonOptions:
    """The canon options of ``d`` (none given: the defaults)."""
    return scope.canon_options(d.opts or ast.CanonOpts())


def _check_leave(inst: Any) -> None:
    if not inst.may_leave:
        raise Trap("cannot leave component instance")


_SYNC_IN_SET = "waitable cannot be used synchronously while added to a waitable set"


def _check_may_block(inst: Any) -> None:
    """A synchronous (blocking) built-in: trap at once in a task that may not block."""
    t = _thread(inst)
    if t is None:
        raise Trap(SYNC_BLOCK)
    t.check_may_block()


def _thread(inst: Any) -> Thread | None:
    t = instance_state(inst).sched.current
    if t is None or t.task.inst is not inst:
        return None
    return t


def _task(inst: Any, what: str) -> Task:
    t = _thread(inst)
    if t is None:
        raise Trap(f"`{what}` called outside of an async task")
    return t.task


def _get(inst: Any, i: int, cls: type, what: str) -> Any:
    e = inst.handles.get(i & 0xFFFF_FFFF)
    if not isinstance(e, cls):
        raise Trap(f"handle index {i} used with the wrong type, expected {what}")
    return e


def _wait_sync(inst: Any, w: Waitable, finish: Callable[[], Any]) -> Any:
    """Block the current thread until ``w`` has a pending event, then ``finish()``."""
    thread = _thread(inst)
    if thread is None:
        raise Trap(SYNC_BLOCK)
    w.has_sync_waiter = True

    def done(cancelled: bool) -> Any:
        w.has_sync_waiter = False
        return finish()

    try:
        return thread.block(w.has_pending_event, False, done, w)
    except BaseException:
        w.has_sync_waiter = False
        raise


def _maker(
    store: core.CoreStore, inst: Any, blocking: bool
) -> Callable[[T.CoreFuncType, Any], core.CoreFunc]:
    if blocking:
        return lambda ty, fn: _blocking(store, inst, ty, fn)
    return lambda ty, fn: core.host_func(store, ty, fn)


def _blocking(store: core.CoreStore, inst: Any, ty: T.CoreFuncType, fn: Any) -> core.CoreFunc:
    """A built-in that may suspend the calling thread: its instance runs on fibers."""
    instance_state(inst).may_block = True
    return core.async_host_func(store, ty, fn, on_sync=lambda: check_may_leave(inst))


def _store_event(inst: Any, mem: Any, ptr: int, event: EventTuple) -> int:
    code, p1, p2 = event
    mv = mem.view()
    ptr &= 0xFFFF_FFFF
    if ptr & 3:
        raise Trap("unaligned pointer")
    if ptr + 8 > len(mv):
        raise Trap("pointer out of bounds of memory")
    mv[ptr : ptr + 4] = (p1 & 0xFFFF_FFFF).to_bytes(4, "little")
    mv[ptr + 4 : ptr + 8] = (p2 & 0xFFFF_FFFF).to_bytes(4, "little")
    return int(code)
