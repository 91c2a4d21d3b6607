"""A trap in a component instance, and the rules a call out of an instance meets:
the instance is poisoned (:func:`poison`), a call out needs ``may_leave``
(:func:`check_may_leave`), a core exception does not unwind across the
component boundary (:func:`at_boundary`), and a synchronous task may not block
(:data:`SYNC_BLOCK`, :func:`sync_block_trap`).
"""

from __future__ import annotations

from typing import Any

from wasmloom.errors import Trap
from wasmloom.runtime.scheduler import DEADLOCK
from wasmloom.runtime.streams import fail_host_ends

__all__ = [
    "SYNC_BLOCK",
    "THROWN",
    "UNCAUGHT",
    "at_boundary",
    "check_may_leave",
    "poison",
    "sync_block_trap",
]

SYNC_BLOCK = "cannot block a synchronous task before returning"


#: What wasmtime says of a core exception no handler caught, and what its
#: adapters say of one that reaches the boundary between two components.
THROWN = "thrown Wasm exception"
UNCAUGHT = "uncaught exception propagated out of component"


def at_boundary(e: Trap) -> None:
    """A core exception thrown in the callee (or its realloc, post-return) does not
    unwind into the calling component: it is a trap there, in Wasmtime's words."""
    if e.message == THROWN:
        e.message = UNCAUGHT
        e.args = (f"{UNCAUGHT} (in {e.func})" if e.func else UNCAUGHT,)


def poison(inst: Any, error: BaseException) -> None:
    """A trap (``error``) in ``inst``: it may never be entered again, its waiting
    threads never resume (the host calls they work for fail with ``error``), and the host
    ends of the streams and futures whose other end it holds fail with ``error``
    (:func:`wasmloom.runtime.streams.machine.fail_host_ends`), so no host reader or
    writer waits for it forever."""
    inst.poisoned = True
    inst.may_enter = False
    st = inst.conc
    if st is not None:
        # Its other waiting threads never run again; the host calls they work for fail.
        st.preempted = None
        for t in [t for t in st.sched.waiting if t.task.inst is inst]:
            t.stop_waiting()
            root = t.task.root
            if root is not None:
                root.fail(error)
    fail_host_ends(inst, error)


def check_may_leave(inst: Any) -> None:
    """Trap as the spec does when the guest calls out while ``may_leave`` is clear."""
    if not inst.may_leave:
        raise Trap("cannot leave component instance")


def sync_block_trap(inst: Any) -> Trap:
    """The trap of a synchronous task of ``inst`` that blocks with no thread of ``inst``
    to run: deadlock if threads of the same top-level component instance are ready but
    may not run (they need the stack, or belong to another instance), else the plain
    rule that a synchronous task cannot block."""
    top = inst.self_and_ancestors()[-1]
    for t in inst.conc.sched.waiting:
        if t.ready() and t.task.inst.self_and_ancestors()[-1] is top:
            return Trap(DEADLOCK)
    return Trap(SYNC_BLOCK)
