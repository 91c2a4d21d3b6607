"""The canon built-ins: one function per spec built-in, reached through :data:`BUILTINS`.

Each built-in is a function named after the spec's ``canon_*`` (``stream.read``
is :func:`~.streams.canon_stream_read`), grouped by spec section:

- :mod:`.tasks`: ``task.return``, ``task.cancel``, ``context.*``,
  ``backpressure.*``, ``subtask.*``;
- :mod:`.waitables`: ``waitable-set.*``, ``waitable.join``;
- :mod:`.streams`: ``stream.*``, ``future.*`` and guest buffers;
- :mod:`.threads`: ``thread.*``;
- :mod:`.error_context`: ``error-context.*``;
- :mod:`.resources`: ``resource.*``.

A built-in reads the immediates of its ``canon`` definition once and
returns the core function a guest imports (:data:`.common.Builtin`); its
body runs the guards first, then the work. Trap messages follow Wasmtime.
:mod:`.async_values` lifts and lowers stream, future and error-context
values across calls. :mod:`.common` holds the shared guards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmloom import core
from wasmloom.binary import ast
from wasmloom.errors import LinkError
from wasmloom.runtime.builtins import (
    error_context,
    resources,
    streams,
    tasks,
    threads,
    waitables,
)
from wasmloom.runtime.builtins.common import Builtin
from wasmloom.runtime.builtins.error_context import ErrorContext

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope

__all__ = ["BUILTINS", "Builtin", "ErrorContext", "builtin"]

#: Each built-in the runtime supports, by its name in the spec (and in
#: :class:`~wasmloom.binary.ast.CanonBuiltin`) -> its ``canon_*`` function.
BUILTINS: dict[str, Builtin] = {
    # resources
    "resource.new": resources.canon_resource_new,
    "resource.drop": resources.canon_resource_drop,
    "resource.rep": resources.canon_resource_rep,
    # tasks
    "task.return": tasks.canon_task_return,
    "task.cancel": tasks.canon_task_cancel,
    "context.get": tasks.canon_context_get,
    "context.set": tasks.canon_context_set,
    "backpressure.inc": tasks.canon_backpressure_inc,
    "backpressure.dec": tasks.canon_backpressure_dec,
    "subtask.cancel": tasks.canon_subtask_cancel,
    "subtask.drop": tasks.canon_subtask_drop,
    # waitables
    "waitable-set.new": waitables.canon_waitable_set_new,
    "waitable-set.wait": waitables.canon_waitable_set_wait,
    "waitable-set.poll": waitables.canon_waitable_set_poll,
    "waitable-set.drop": waitables.canon_waitable_set_drop,
    "waitable.join": waitables.canon_waitable_join,
    # streams and futures
    "stream.new": streams.canon_stream_new,
    "stream.read": streams.canon_stream_read,
    "stream.write": streams.canon_stream_write,
    "stream.cancel-read": streams.canon_stream_cancel_read,
    "stream.cancel-write": streams.canon_stream_cancel_write,
    "stream.drop-readable": streams.canon_stream_drop_readable,
    "stream.drop-writable": streams.canon_stream_drop_writable,
    "future.new": streams.canon_future_new,
    "future.read": streams.canon_future_read,
    "future.write": streams.canon_future_write,
    "future.cancel-read": streams.canon_future_cancel_read,
    "future.cancel-write": streams.canon_future_cancel_write,
    "future.drop-readable": streams.canon_future_drop_readable,
    "future.drop-writable": streams.canon_future_drop_writable,
    # error contexts
    "error-context.new": error_context.canon_error_context_new,
    "error-context.debug-message": error_context.canon_error_context_debug_message,
    "error-context.drop": error_context.canon_error_context_drop,
    # threads
    "thread.yield": threads.canon_thread_yield,
    "thread.index": threads.canon_thread_index,
    "thread.new-indirect": threads.canon_thread_new_indirect,
    "thread.resume-later": threads.canon_thread_resume_later,
    "thread.suspend": threads.canon_thread_suspend,
    "thread.suspend-then-resume": threads.canon_thread_suspend_then_resume,
    "thread.yield-then-resume": threads.canon_thread_yield_then_resume,
    "thread.suspend-then-promote": threads.canon_thread_suspend_then_promote,
    "thread.yield-then-promote": threads.canon_thread_yield_then_promote,
}


def builtin(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """The core function for the canon built-in ``d`` (any canon other than lift and lower)."""
    make = BUILTINS.get(d.name)
    if make is None:
        raise LinkError(f"canon {d.name} is not supported yet")
    return make(store, inst, scope, d)
