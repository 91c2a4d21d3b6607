"""The waitable built-ins: ``waitable-set.new``/``wait``/``poll``/``drop``, ``waitable.join``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import _SYNC_IN_SET, _check_leave, _get, _store_event, _thread
from wasmloom.runtime.tasks import (
    SYNC_BLOCK,
)
from wasmloom.runtime.waitables import EventCode, Waitable, WaitableSet


def canon_waitable_set_new(inst: Any) -> int:
    _check_leave(inst)
    return int(inst.handles.add(WaitableSet()))


def canon_waitable_set_wait(inst: Any, cancellable: bool, mem: Any, si: int, ptr: int) -> int:
    _check_leave(inst)
    wset: WaitableSet = _get(inst, si, WaitableSet, "waitable set")
    thread = _thread(inst)
    if thread is None:
        raise Trap(SYNC_BLOCK)
    wset.num_waiting += 1

    def finish(cancelled: bool) -> int:
        wset.num_waiting -= 1
        event = (EventCode.TASK_CANCELLED, 0, 0) if cancelled else wset.get_pending_event()
        return _store_event(inst, mem, ptr, event)

    try:
        return cast(int, thread.block(wset.has_pending_event, cancellable, finish))
    except BaseException:
        wset.num_waiting -= 1
        raise


def canon_waitable_set_poll(inst: Any, cancellable: bool, mem: Any, si: int, ptr: int) -> int:
    _check_leave(inst)
    wset: WaitableSet = _get(inst, si, WaitableSet, "waitable set")
    thread = _thread(inst)
    if thread is not None and thread.task.deliver_pending_cancel(cancellable):
        return _store_event(inst, mem, ptr, (EventCode.TASK_CANCELLED, 0, 0))
    return _store_event(inst, mem, ptr, wset.poll())


def canon_waitable_set_drop(inst: Any, i: int) -> None:
    _check_leave(inst)
    wset: WaitableSet = _get(inst, i, WaitableSet, "waitable set")
    wset.drop()
    inst.handles.remove(i)


def canon_waitable_join(inst: Any, wi: int, si: int) -> None:
    _check_leave(inst)
    w: Waitable = _get(inst, wi, Waitable, "waitable")
    if w.has_sync_waiter:
        raise Trap(_SYNC_IN_SET)
    if si == 0:
        w.join(None)
    else:
        w.join(_get(inst, si, WaitableSet, "waitable set"))


def _waitable_join_of(inst: Any) -> Callable[[int, int], None]:
    """:func:`canon_waitable_join` bound to ``inst``, with the handle lookups in line."""
    array = inst.handles.array

    def waitable_join(wi: int, si: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        wi &= 0xFFFF_FFFF
        si &= 0xFFFF_FFFF
        w = array[wi] if wi < len(array) else None
        if not isinstance(w, Waitable):
            canon_waitable_join(inst, wi, si)  # traps with the general message
            return
        if w.has_sync_waiter:
            raise Trap(_SYNC_IN_SET)
        if si == 0:
            w.join(None)
            return
        ws = array[si] if si < len(array) else None
        if not isinstance(ws, WaitableSet):
            canon_waitable_join(inst, wi, si)
            return
        old = w.wset
        if old is not None:
            old.elems.remove(w)
        w.wset = ws
        ws.elems.append(w)

    return waitable_join
