"""The thread built-ins: ``thread.yield``, ``thread.index``, ``thread.new-indirect``,
``thread.resume-later``, ``thread.suspend`` and the switches.
"""

from __future__ import annotations

from typing import Any, cast

from wasmloom import types as T
from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import _check_leave, _thread
from wasmloom.runtime.tasks import (
    Thread,
    instance_state,
)


def canon_thread_yield(inst: Any, cancellable: bool) -> int:
    _check_leave(inst)
    t = _thread(inst)
    if t is None:
        return 0
    return cast(int, t.yield_(cancellable, int))


def canon_thread_index(inst: Any) -> int:
    _check_leave(inst)
    t = _thread(inst)
    if t is None:
        raise Trap("`thread.index` called outside of a thread")
    if t.index is None:
        # A task's implicit thread started by the direct host-call path takes
        # its index on first use (nothing else took one since it started).
        t.index = instance_state(inst).threads.add(t)
    return t.index


def _current(inst: Any, what: str) -> Thread:
    _check_leave(inst)
    t = _thread(inst)
    if t is None:
        raise Trap(f"`{what}` called outside of a thread")
    return t


def _other(inst: Any, i: int, suspended: bool) -> Thread:
    other = instance_state(inst).threads.get(i & 0xFFFF_FFFF)
    if suspended and not other.suspended():
        raise Trap(f"thread {i} is not suspended")
    return other


def canon_thread_new_indirect(inst: Any, ft: T.CoreFuncType, table: Any, fi: int, c: int) -> int:
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


def canon_thread_resume_later(inst: Any, i: int) -> None:
    _check_leave(inst)
    _other(inst, i, True).resume_later()


def canon_thread_suspend(inst: Any, cancellable: bool) -> Any:
    return _current(inst, "thread.suspend").suspend(cancellable)


def canon_thread_switch(inst: Any, what: str, cancellable: bool, i: int) -> Any:
    thread = _current(inst, what)
    then_wait = what.startswith("thread.yield")
    if what.endswith("-promote"):
        return thread.promote(cancellable, _other(inst, i, False), then_wait)
    return thread.switch(cancellable, _other(inst, i, True), then_wait)
