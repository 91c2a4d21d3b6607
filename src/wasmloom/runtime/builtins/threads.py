"""The thread built-ins: thread.yield, thread.index, thread.new-indirect, and the rest.

Also ``thread.resume-later``, ``thread.suspend``, and the four switches
``thread.{suspend,yield}-then-{resume,promote}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from wasmloom import core
from wasmloom.binary import ast
from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import CT, I32, _blocking, _check_leave, _thread
from wasmloom.runtime.tasks import (
    Thread,
    instance_state,
)

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope


def canon_thread_yield(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.yield``: let other threads run; 1 if the task was cancelled meanwhile."""
    cancellable = d.cancellable

    def thread_yield() -> int:
        _check_leave(inst)
        t = _thread(inst)
        if t is None:
            return 0
        return cast(int, t.yield_(cancellable, int))

    return _blocking(store, inst, CT((), (I32,)), thread_yield)


def canon_thread_index(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.index``: the current thread's index."""

    def thread_index() -> int:
        _check_leave(inst)
        t = _thread(inst)
        if t is None:
            raise Trap("`thread.index` called outside of a thread")
        if t.index is None:
            # A task's implicit thread started by the direct host-call path takes
            # its index on first use (nothing else took one since it started).
            t.index = instance_state(inst).threads.add(t)
        return t.index

    return core.host_func(store, CT((), (I32,)), thread_index)


def _current(inst: Any, what: str) -> Thread:
    _check_leave(inst)
    t = _thread(inst)
    if t is None:
        raise Trap(f"`{what}` called outside of a thread")
    return t


def _other(inst: Any, i: int, suspended: bool) -> Thread:
    other = instance_state(inst).threads.get(i & 0xFFFF_FFFF)
    if suspended and not other.suspended():
        raise Trap("cannot resume thread which is not suspended")
    return other


def canon_thread_new_indirect(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.new-indirect``: a new suspended thread to run table entry ``fi`` on ``c``."""
    assert d.core_type_idx is not None and d.table is not None
    ft = scope.core_types[d.core_type_idx]
    table = scope.core_tables[d.table]
    # Threads run on fibers, and so does the code that creates and resumes them.
    instance_state(inst).may_block = True

    def thread_new_indirect(fi: int, c: int) -> int:
        thread = _current(inst, "thread.new-indirect")
        task = thread.task
        f = table.get_func(fi & 0xFFFF_FFFF)
        if f is None:
            raise Trap(f"invalid table index {fi} for `thread.new-indirect`")
        if f.ty != ft:
            raise Trap("indirect call type mismatch for `thread.new-indirect`")
        new_thread = Thread(task, None)

        def start(cancelled: bool) -> None:
            new_thread.run_core(True, f, None, (c,), lambda _: task.unregister_thread(new_thread))

        new_thread.cont = start
        task.register_thread(new_thread)
        assert new_thread.index is not None
        return new_thread.index

    return core.host_func(store, CT((I32, I32), (I32,)), thread_new_indirect)


def canon_thread_resume_later(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.resume-later``: make suspended thread ``i`` ready to run."""
    instance_state(inst).may_block = True

    def thread_resume_later(i: int) -> None:
        _check_leave(inst)
        _other(inst, i, True).resume_later()

    return core.host_func(store, CT((I32,), ()), thread_resume_later)


def canon_thread_suspend(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.suspend``: suspend the current thread until another resumes it."""
    cancellable = d.cancellable

    def thread_suspend() -> Any:
        return _current(inst, "thread.suspend").suspend(cancellable)

    return _blocking(store, inst, CT((), (I32,)), thread_suspend)


def canon_thread_suspend_then_resume(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.suspend-then-resume``: suspend, switching to suspended thread ``i``."""
    return _switch(store, inst, d, "thread.suspend-then-resume")


def canon_thread_yield_then_resume(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.yield-then-resume``: yield, switching to suspended thread ``i``."""
    return _switch(store, inst, d, "thread.yield-then-resume")


def canon_thread_suspend_then_promote(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.suspend-then-promote``: run thread ``i`` if it is ready, else suspend."""
    return _switch(store, inst, d, "thread.suspend-then-promote")


def canon_thread_yield_then_promote(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon thread.yield-then-promote``: run thread ``i`` if it is ready, else yield."""
    return _switch(store, inst, d, "thread.yield-then-promote")


def _switch(
    store: core.CoreStore, inst: ComponentInstance, d: ast.CanonBuiltin, what: str
) -> core.CoreFunc:
    """The four switches: ``thread.{suspend,yield}-then-{resume,promote}``."""
    cancellable = d.cancellable

    def switch(i: int) -> Any:
        thread = _current(inst, what)
        then_wait = what.startswith("thread.yield")
        if what.endswith("-promote"):
            return thread.promote(cancellable, _other(inst, i, False), then_wait)
        return thread.switch(cancellable, _other(inst, i, True), then_wait)

    return _blocking(store, inst, CT((I32,), (I32,)), switch)
