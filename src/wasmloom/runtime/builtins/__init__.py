"""The async canon built-ins: tasks, waitables, streams, futures, threads, error contexts.

Each built-in is one short function named after the spec's ``canon_*``,
guards first. :func:`builtin` turns a ``canon`` definition into the core host
function a guest imports. Trap messages follow Wasmtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi.layout import MAX_FLAT_PARAMS, flatten_types
from wasmloom.binary import ast
from wasmloom.errors import LinkError
from wasmloom.runtime.builtins import async_values as async_values
from wasmloom.runtime.builtins.common import I32, _blocking, _maker
from wasmloom.runtime.builtins.error_context import (
    ErrorContext,
    canon_error_context_debug_message,
    canon_error_context_drop,
    canon_error_context_new,
)
from wasmloom.runtime.builtins.streams import (
    canon_cancel_copy,
    canon_copy_new,
    canon_drop_end,
    future_copy,
    stream_copy,
)
from wasmloom.runtime.builtins.tasks import (
    _subtask_drop_of,
    canon_backpressure_dec,
    canon_backpressure_inc,
    canon_context_get,
    canon_context_set,
    canon_subtask_cancel,
    canon_task_cancel,
    canon_task_return,
)
from wasmloom.runtime.builtins.threads import (
    canon_thread_index,
    canon_thread_new_indirect,
    canon_thread_resume_later,
    canon_thread_suspend,
    canon_thread_switch,
    canon_thread_yield,
)
from wasmloom.runtime.builtins.waitables import (
    _waitable_join_of,
    canon_waitable_set_drop,
    canon_waitable_set_new,
    canon_waitable_set_poll,
    canon_waitable_set_wait,
)
from wasmloom.runtime.streams import (
    ReadableFutureEnd,
    ReadableStreamEnd,
    WritableFutureEnd,
    WritableStreamEnd,
)
from wasmloom.runtime.tasks import instance_state

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope

__all__ = ["ErrorContext", "builtin"]


# --- dispatch -----------------------------------------------------------------------------------


def builtin(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """The core function for an async canon built-in."""
    name = d.name
    hf = core.host_func
    CT = T.CoreFuncType
    if name == "task.return":
        result_t = scope.opt_valtype(d.result) if d.has_result else None
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        opts.is_async = True
        flat = flatten_types([result_t] if result_t is not None else [], opts.ptr_type)
        if len(flat) > MAX_FLAT_PARAMS:
            flat = [opts.ptr_type]
        return hf(store, CT(tuple(flat), ()), canon_task_return(inst, result_t, opts))
    if name == "task.cancel":
        return hf(store, CT((), ()), lambda: canon_task_cancel(inst))
    if name in ("context.get", "context.set"):
        slot = d.index or 0
        vt = d.core_valtype or I32
        if slot > 1:
            raise LinkError(f"invalid context slot {slot}")
        if name == "context.get":
            return hf(store, CT((), (vt,)), lambda: canon_context_get(inst, slot))
        return hf(store, CT((vt,), ()), lambda v: canon_context_set(inst, slot, v))
    if name == "backpressure.inc":
        return hf(store, CT((), ()), lambda: canon_backpressure_inc(inst))
    if name == "backpressure.dec":
        return hf(store, CT((), ()), lambda: canon_backpressure_dec(inst))
    if name == "waitable-set.new":
        return hf(store, CT((), (I32,)), lambda: canon_waitable_set_new(inst))
    if name in ("waitable-set.wait", "waitable-set.poll"):
        assert d.memory is not None
        mem = scope.core_memories[d.memory]
        fn = canon_waitable_set_wait if name == "waitable-set.wait" else canon_waitable_set_poll
        c = d.cancellable
        mk = _maker(store, inst, name == "waitable-set.wait")
        return mk(CT((I32, I32), (I32,)), lambda si, p: fn(inst, c, mem, si, p))
    if name == "waitable-set.drop":
        return hf(store, CT((I32,), ()), lambda i: canon_waitable_set_drop(inst, i))
    if name == "waitable.join":
        return hf(store, CT((I32, I32), ()), _waitable_join_of(inst))
    if name == "subtask.cancel":
        a = d.is_async
        mk = _maker(store, inst, not a)
        return mk(CT((I32,), (I32,)), lambda i: canon_subtask_cancel(inst, a, i))
    if name == "subtask.drop":
        return hf(store, CT((I32,), ()), _subtask_drop_of(inst))
    if name.startswith(("stream.", "future.")):
        return _copy_builtin(store, inst, scope, d)
    if name == "error-context.new":
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        pt = opts.ptr_type
        return hf(
            store, CT((pt, pt), (I32,)), lambda p, n: canon_error_context_new(inst, opts, p, n)
        )
    if name == "error-context.debug-message":
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        pt = opts.ptr_type
        return hf(
            store,
            CT((I32, pt), ()),
            lambda i, p: canon_error_context_debug_message(inst, opts, i, p),
        )
    if name == "error-context.drop":
        return hf(store, CT((I32,), ()), lambda i: canon_error_context_drop(inst, i))
    if name == "thread.yield":
        c = d.cancellable
        return _blocking(store, inst, CT((), (I32,)), lambda: canon_thread_yield(inst, c))
    if name == "thread.index":
        return hf(store, CT((), (I32,)), lambda: canon_thread_index(inst))
    if name == "thread.new-indirect":
        assert d.core_type_idx is not None and d.table is not None
        ft = scope.core_types[d.core_type_idx]
        table = scope.core_tables[d.table]
        # Threads run on fibers, and so does the code that creates and resumes them.
        instance_state(inst).may_block = True
        return hf(
            store,
            CT((I32, I32), (I32,)),
            lambda fi, c: canon_thread_new_indirect(inst, ft, table, fi, c),
        )
    if name == "thread.resume-later":
        instance_state(inst).may_block = True
        return hf(store, CT((I32,), ()), lambda i: canon_thread_resume_later(inst, i))
    if name == "thread.suspend":
        c = d.cancellable
        return _blocking(store, inst, CT((), (I32,)), lambda: canon_thread_suspend(inst, c))
    if name in (
        "thread.suspend-then-resume",
        "thread.yield-then-resume",
        "thread.suspend-then-promote",
        "thread.yield-then-promote",
    ):
        c = d.cancellable
        return _blocking(
            store, inst, CT((I32,), (I32,)), lambda i: canon_thread_switch(inst, name, c, i)
        )
    raise LinkError(f"canon {name} is not supported yet")


def _copy_builtin(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    assert d.type_idx is not None
    t = scope.types[d.type_idx]
    hf = core.host_func
    CT = T.CoreFuncType
    kind, op = d.name.split(".")
    is_stream = kind == "stream"
    rcls: type = ReadableStreamEnd if is_stream else ReadableFutureEnd
    wcls: type = WritableStreamEnd if is_stream else WritableFutureEnd
    if op == "new":
        return hf(store, CT((), ("i64",)), lambda: canon_copy_new(inst, t, is_stream))
    if op in ("read", "write"):
        opts = scope.canon_options(d.opts or ast.CanonOpts())
        cls = rcls if op == "read" else wcls
        pt = opts.ptr_type
        mk = _maker(store, inst, not opts.is_async)
        if is_stream:
            return mk(CT((I32, pt, I32), (I32,)), stream_copy(inst, cls, t, opts))
        return mk(CT((I32, pt), (I32,)), future_copy(inst, cls, t, opts))
    if op in ("cancel-read", "cancel-write"):
        cls = rcls if op == "cancel-read" else wcls
        a = d.is_async
        mk = _maker(store, inst, not a)
        return mk(CT((I32,), (I32,)), lambda i: canon_cancel_copy(inst, cls, t, a, i))
    if op in ("drop-readable", "drop-writable"):
        cls = rcls if op == "drop-readable" else wcls
        return hf(store, CT((I32,), ()), lambda i: canon_drop_end(inst, cls, t, i))
    raise LinkError(f"canon {d.name} is not supported yet")
