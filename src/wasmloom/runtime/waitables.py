"""Waitables (subtasks among them), waitable sets and the event codes they deliver (sans-I/O).

Follows the spec's ``Waitable``/``WaitableSet``: a waitable holds at most one
*pending event*, a thunk producing ``(EventCode, index, payload)`` when it is
delivered (delivery may update the waitable's state). A waitable is in at most
one waitable set; a guest waiting on a set gets the first pending event of its
members, in the order they joined. Nothing here blocks: the scheduler
(:mod:`wasmloom.runtime.tasks`) asks ``has_pending_event`` and delivers.

A thread waiting for a waitable (or a set) is parked in its ``waiters``; an
event made pending wakes them (:func:`wasmloom.runtime.scheduler.wake`), so
the scheduler need not poll the waiting threads to find the ready ones.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any

from wasmloom.abi.handles import BorrowScope
from wasmloom.errors import Trap
from wasmloom.runtime.scheduler import wake

__all__ = ["EventCode", "EventTuple", "Subtask", "SubtaskState", "Waitable", "WaitableSet"]


class EventCode(IntEnum):
    """The event codes of ``waitable-set.wait``/``poll`` and the callback ABI."""

    NONE = 0
    SUBTASK = 1
    STREAM_READ = 2
    STREAM_WRITE = 3
    FUTURE_READ = 4
    FUTURE_WRITE = 5
    TASK_CANCELLED = 6


EventTuple = tuple[EventCode, int, int]


class Waitable:
    """Something a guest can wait on: a subtask or a stream/future end."""

    __slots__ = ("has_sync_waiter", "pending_event", "waiters", "wset")

    def __init__(self) -> None:
        self.pending_event: Callable[[], EventTuple] | None = None
        self.wset: WaitableSet | None = None
        self.has_sync_waiter = False
        #: Threads parked until this waitable has an event (or resolves, a subtask).
        self.waiters: list[Any] | None = None

    def set_pending_event(self, pending_event: Callable[[], EventTuple]) -> None:
        self.pending_event = pending_event
        # The threads waiting for it or for its set may run.
        if self.waiters is not None:
            wake(self)
        ws = self.wset
        if ws is not None and ws.waiters is not None:
            wake(ws)

    def has_pending_event(self) -> bool:
        return self.pending_event is not None

    def in_waitable_set(self) -> bool:
        return self.wset is not None

    def get_pending_event(self) -> EventTuple:
        """Deliver the pending event (running its thunk); there must be one."""
        pending = self.pending_event
        assert pending is not None
        self.pending_event = None
        return pending()

    def join(self, wset: WaitableSet | None) -> None:
        """Move into ``wset`` (``None``: leave the current set)."""
        if self.has_sync_waiter:
            raise Trap("waitable cannot be used synchronously while added to a waitable set")
        if self.wset is not None:
            self.wset.elems.remove(self)
        self.wset = wset
        if wset is not None:
            wset.elems.append(self)
            if self.pending_event is not None and wset.waiters is not None:
                wake(wset)

    def drop(self) -> None:
        """Leave any waitable set; called when the handle is removed."""
        if self.wset is not None:
            self.wset.elems.remove(self)
            self.wset = None
        self.pending_event = None


class WaitableSet:
    """A set of waitables a task can wait on as one."""

    __slots__ = ("elems", "num_waiting", "waiters")

    def __init__(self) -> None:
        self.elems: list[Waitable] = []
        self.num_waiting = 0
        #: Threads parked until a member has an event.
        self.waiters: list[Any] | None = None

    def has_pending_event(self) -> bool:
        return any(w.pending_event is not None for w in self.elems)

    def get_pending_event(self) -> EventTuple:
        """Deliver the first pending event of the members, in join order."""
        for w in self.elems:
            if w.pending_event is not None:
                return w.get_pending_event()
        raise AssertionError("no pending event")

    def poll(self) -> EventTuple:
        """The first pending event, or ``(NONE, 0, 0)``."""
        if not self.has_pending_event():
            return (EventCode.NONE, 0, 0)
        return self.get_pending_event()

    def drop(self) -> None:
        """Check that the set may be dropped (``waitable-set.drop``)."""
        if self.num_waiting > 0:
            raise Trap("cannot drop waitable set with waiters")
        for w in list(self.elems):
            w.wset = None
        self.elems.clear()


class SubtaskState(IntEnum):
    STARTING = 0
    STARTED = 1
    RETURNED = 2
    CANCELLED_BEFORE_STARTED = 3
    CANCELLED_BEFORE_RETURNED = 4


class Subtask(Waitable):
    """The caller's view of a call made through ``canon lower`` (the spec's ``Subtask``)."""

    __slots__ = (
        "cancellation_requested",
        "delivered",
        "flat_results",
        "lenders",
        "on_cancel",
        "state",
    )

    def __init__(self) -> None:
        super().__init__()
        self.state = SubtaskState.STARTING
        self.on_cancel: Callable[[Any], None] | None = None
        # Set by lowerings whose arguments may lend handles (no scope: none lent).
        self.lenders: BorrowScope | None = None
        self.cancellation_requested = False
        self.flat_results: list[Any] = []
        self.delivered = False

    def resolved(self) -> bool:
        return self.state >= SubtaskState.RETURNED

    def resolve(self, state: SubtaskState, flat_results: list[Any]) -> None:
        assert not self.resolved()
        self.state = state
        self.flat_results = flat_results
        if self.waiters is not None:
            wake(self)  # a synchronous caller waits for it

    def deliver_resolve(self) -> None:
        assert not self.delivered and self.resolved()
        lenders = self.lenders
        if lenders is not None:
            lenders.release()
        self.delivered = True

    def resolve_delivered(self) -> bool:
        return self.delivered

    def event(self, index: int) -> EventTuple:
        if not self.delivered and self.state >= _SUB_RETURNED:
            lenders = self.lenders
            if lenders is not None:
                lenders.release()
            self.delivered = True
        return (_SUBTASK, index, int(self.state))

    def drop(self) -> None:
        if not self.delivered:
            raise Trap("cannot drop a subtask which has not yet resolved")
        Waitable.drop(self)


_SUB_RETURNED = SubtaskState.RETURNED
_SUBTASK = EventCode.SUBTASK
