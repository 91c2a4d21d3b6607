"""Which threads may run while a synchronous call blocks (tests/guests/sync_call_threads.wat).

A non-async-typed task may block only while another thread of its own
instance is ready to run on the stack: a thread it started, not the parked
loop of a callback-lifted task (which needs the stack for itself) and not a
thread of another instance. With none, blocking traps: 'deadlock detected'
when threads are ready that may not run, else 'cannot block a synchronous
task before returning'.
"""

from __future__ import annotations

import pytest
from guest_util import component

from wasmloom import Instance, Linker, Store, Trap

SYNC_BLOCK = "cannot block a synchronous task before returning"
DEADLOCK = "deadlock detected: event loop cannot make further progress"


def instantiate() -> tuple[Store[None], Instance]:
    store: Store[None] = Store()
    return store, Linker().instantiate(store, component("sync_call_threads"))


def call(store: Store[None], inst: Instance, name: str) -> object:
    f = inst.get_func(name)
    assert f is not None
    return f(store)


def test_sync_call_of_async_function_needs_a_ready_thread() -> None:
    store, inst = instantiate()
    assert call(store, inst, "quick-ready") == 7
    assert call(store, inst, "quick-ready") == 7
    store, inst = instantiate()
    with pytest.raises(Trap, match=SYNC_BLOCK):
        call(store, inst, "quick-alone")


@pytest.mark.parametrize("entry", ["bounce", "drive"])
def test_parked_callback_loops_and_other_instances_do_not_run(entry: str) -> None:
    store, inst = instantiate()
    assert call(store, inst, "spawn-helper") == 0
    for _ in range(3):
        assert call(store, inst, "park") == 1
    call(store, inst, "arm")
    call(store, inst, "arm")
    # Each parked loop and each armed thread traps if it runs during the call.
    assert call(store, inst, entry) == 3
    assert call(store, inst, entry) == 3


@pytest.mark.parametrize("ready", ["park", "arm"])
def test_blocking_with_only_unusable_ready_threads_is_a_deadlock(ready: str) -> None:
    store, inst = instantiate()
    call(store, inst, ready)
    with pytest.raises(Trap, match=DEADLOCK):
        call(store, inst, "suspend-alone")


def test_blocking_with_nothing_ready_cannot_block() -> None:
    store, inst = instantiate()
    with pytest.raises(Trap, match=SYNC_BLOCK):
        call(store, inst, "suspend-alone")
