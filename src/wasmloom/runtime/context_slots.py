"""Context-local storage (``context.get``/``context.set``) kept where the guest reaches
it without a call into Python: :class:`ContextSlots`, and what the scheduler's thread
switches tell it.

The canon built-ins (:mod:`wasmloom.runtime.builtins.tasks`) make an instance's
``ContextSlots`` and the functions the guest calls; :class:`~wasmloom.runtime.tasks.Thread`
and the lifting code call :func:`switched` and :func:`rebind_context` when the storage
the instance's code reaches may change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wasmloom import core

if TYPE_CHECKING:
    from wasmloom.runtime.scheduler import Scheduler

# (threads are wasmloom.runtime.tasks.Thread, which imports this module: typed Any here)

__all__ = ["ContextSlots", "rebind_context", "switched"]


class ContextSlots:
    """The context-local storage of the code running in one component instance:
    ``view`` holds its two 64-bit slots, then a validity word. ``view`` is the linear
    memory of the instance's wasm ``context.get``/``set`` functions, which the guest
    calls without entering Python; in a store whose limits count core instances or
    memories it is a list, read and written by host functions alike (``module`` is
    then None).

    The storage the code running in the instance reaches is: a ``realloc`` the
    canonical ABI calls runs with fresh slots of its own (the instance's
    ``realloc_storage``); a sync call running without a thread (the sync fast
    path) has the instance's ``sync_storage``, which each such call starts anew;
    any other code runs on the scheduler's current thread, each thread with its
    own slots (``Thread.storage``). Slots are made, zeroed, on first use.

    The slots in memory are those of ``owner`` (whose own values are stale until
    they go back to it). While the validity word is set, ``owner`` is the storage
    the instance's code reaches. Whatever may change that storage clears the word
    (:meth:`invalidate`; :func:`switched` for the current thread) or calls
    :meth:`rebind` at once; a ``context.*`` function that finds the word clear
    calls :meth:`rebind` (in wasm, through its import) before it reads or writes. A
    ``realloc`` runs through :meth:`call_fresh`.
    """

    __slots__ = ("inst", "module", "owner", "sched", "view")

    def __init__(self, inst: Any, sched: Scheduler[Any]) -> None:
        self.inst = inst
        self.sched = sched
        #: The core instance of the wasm functions and their memory (set once made).
        self.module: core.CoreInstance | None = None
        self.view: Any = None  # the three words ('Q' memoryview or list), once made
        self.owner: list[int] | None = None

    def rebind(self) -> None:
        """Load the slots of the storage the instance's code reaches now, if not loaded."""
        inst = self.inst
        s = inst.realloc_storage
        if s is None:
            t = self.sched.current
            if t is None or t.task.inst is not inst:
                s = inst.sync_storage
                if s is None:
                    s = inst.sync_storage = [0, 0]
            else:
                s = t.storage
                if s is None:
                    s = t.storage = [0, 0]
        v = self.view
        old = self.owner
        if old is not s:
            if old is not None:
                old[0] = v[0]
                old[1] = v[1]
            v[0] = s[0]
            v[1] = s[1]
            self.owner = s
        v[2] = 1

    def invalidate(self) -> None:
        """The storage the instance's code reaches may have changed: the next
        ``context.*`` call finds out (:meth:`rebind`)."""
        self.view[2] = 0

    def call_fresh(self, realloc: Callable[..., Any], *args: Any) -> Any:
        """``realloc(*args)`` with zeroed slots (a ``realloc`` runs with fresh storage,
        dropped when it returns); the slots and their validity are put back after."""
        v = self.view
        s0 = v[0]
        s1 = v[1]
        valid = v[2]
        v[0] = v[1] = 0
        v[2] = 1
        try:
            return realloc(*args)
        finally:
            v[0] = s0
            v[1] = s1
            v[2] = valid


def switched(old: Any, new: Any) -> None:
    """The scheduler's current thread went from ``old`` to ``new``: ``old``'s
    instance may reach other context slots now, and ``new``'s loads its own (if
    their context slots are wasm)."""
    if old is not None:
        c = old.task.istate.ctx
        if c is not None:
            c.view[2] = 0  # c.invalidate(), in line
    if new is not None:
        c = new.task.istate.ctx
        if c is not None:
            c.rebind()


def rebind_context(inst: Any) -> None:
    """``inst``'s ``sync_storage`` changed: if its context slots are wasm, load the
    slots its code reaches now."""
    st = inst.conc
    if st is not None:
        c = st.ctx
        if c is not None:
            c.rebind()
