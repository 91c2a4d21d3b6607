"""The waitable built-ins: waitable-set.new/wait/poll/drop and waitable.join."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from wasmloom import core
from wasmloom.binary import ast
from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import (
    _SYNC_IN_SET,
    CT,
    I32,
    _blocking,
    _check_leave,
    _get,
    _store_event,
    _thread,
)
from wasmloom.runtime.scheduler import wake
from wasmloom.runtime.streams import (
    ReadableFutureEnd,
    ReadableStreamEnd,
    WritableFutureEnd,
    WritableStreamEnd,
)
from wasmloom.runtime.traps import SYNC_BLOCK
from wasmloom.runtime.waitables import EventCode, Subtask, Waitable, WaitableSet

# The waitables a guest joins to sets: known without an isinstance call.
_WAITABLES = frozenset(
    {ReadableStreamEnd, WritableStreamEnd, ReadableFutureEnd, WritableFutureEnd, Subtask}
)

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope


def canon_waitable_set_new(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon waitable-set.new``: a new, empty waitable set."""

    table = inst.handles
    add = table.add
    array = table.array
    free = table.free

    def waitable_set_new() -> int:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        wset = WaitableSet()
        if free and table.journal is None:  # Table.add in line, for a reused slot
            i: int = free.pop()
            array[i] = wset
            return i
        return int(add(wset))

    return core.host_func(store, CT((), (I32,)), waitable_set_new)


def _memory(scope: Scope, d: ast.CanonBuiltin) -> Any:
    """The memory a ``waitable-set.wait``/``poll`` stores its event in."""
    assert d.memory is not None
    return scope.core_memories[d.memory]


def canon_waitable_set_wait(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon waitable-set.wait``: block until an element of set ``si`` has an event; store it."""
    cancellable = d.cancellable
    mem = _memory(scope, d)

    def waitable_set_wait(si: int, ptr: int) -> int:
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
            return cast(int, thread.block(wset.has_pending_event, cancellable, finish, wset))
        except BaseException:
            wset.num_waiting -= 1
            raise

    return _blocking(store, inst, CT((I32, I32), (I32,)), waitable_set_wait)


def canon_waitable_set_poll(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon waitable-set.poll``: store the event of set ``si``, if any, without blocking."""
    cancellable = d.cancellable
    mem = _memory(scope, d)

    def waitable_set_poll(si: int, ptr: int) -> int:
        _check_leave(inst)
        wset: WaitableSet = _get(inst, si, WaitableSet, "waitable set")
        thread = _thread(inst)
        if thread is not None and thread.task.deliver_pending_cancel(cancellable):
            return _store_event(inst, mem, ptr, (EventCode.TASK_CANCELLED, 0, 0))
        return _store_event(inst, mem, ptr, wset.poll())

    return core.host_func(store, CT((I32, I32), (I32,)), waitable_set_poll)


def canon_waitable_set_drop(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon waitable-set.drop``: remove waitable set ``i``."""

    handles = inst.handles
    array = handles.array

    def waitable_set_drop(i: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        i &= 0xFFFF_FFFF
        try:  # the entry, or None past the end (indices are unsigned)
            wset = array[i]
        except IndexError:
            wset = None
        if wset.__class__ is not WaitableSet:
            wset = _get(inst, i, WaitableSet, "waitable set")  # traps when it is none
        wset.drop()
        array[i] = None  # Table.remove in line (the entry is there)
        handles.free.append(i)

    return core.host_func(store, CT((I32,), ()), waitable_set_drop)


def _waitable_join(inst: Any, wi: int, si: int) -> None:
    """``waitable.join`` with every guard: traps with the general messages."""
    _check_leave(inst)
    w: Waitable = _get(inst, wi, Waitable, "waitable")
    if w.has_sync_waiter:
        raise Trap(_SYNC_IN_SET)
    if si == 0:
        w.join(None)
    else:
        w.join(_get(inst, si, WaitableSet, "waitable set"))


def canon_waitable_join(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon waitable.join``: move waitable ``wi`` into set ``si`` (out of any, if 0).

    The handle lookups are in line; anything unusual goes through
    :func:`_waitable_join`.
    """
    array = inst.handles.array

    def waitable_join(wi: int, si: int) -> None:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        wi &= 0xFFFF_FFFF
        si &= 0xFFFF_FFFF
        w: Any
        ws: Any
        try:  # the entry, or None past the end (indices are unsigned)
            w = array[wi]
        except IndexError:
            w = None
        known = w.__class__ in _WAITABLES
        if not known and not isinstance(w, Waitable):
            _waitable_join(inst, wi, si)  # traps with the general message
            return
        if w.has_sync_waiter:
            raise Trap(_SYNC_IN_SET)
        old = w.wset
        if si == 0:
            if old is not None:  # w.join(None), in line
                old.elems.remove(w)
                w.wset = None
            return
        try:  # the entry, or None past the end (indices are unsigned)
            ws = array[si]
        except IndexError:
            ws = None
        if ws.__class__ is not WaitableSet and not isinstance(ws, WaitableSet):
            _waitable_join(inst, wi, si)
            return
        if old is not None:
            old.elems.remove(w)
        w.wset = ws
        ws.elems.append(w)
        if w.pending_event is not None and ws.waiters is not None:
            wake(ws)  # Waitable.join in line

    return core.host_func(store, CT((I32, I32), ()), waitable_join)
