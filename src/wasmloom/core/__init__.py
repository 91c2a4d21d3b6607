"""Core WebAssembly through wasmtime: the one package of wasmloom that talks to it.

Everything above this package (canonical ABI, runtime, host API) reaches core
wasm only through the objects defined here:

- :class:`Engine` (and :func:`default_engine`): a ``wasmtime.Engine`` configured
  for the Component Model, with a per-engine cache of compiled modules.
- :func:`compile_module` -> :class:`CoreModule`, whose import and export lists are
  derived once from the binary itself (see :func:`module_type`).
- :class:`CoreStore`: a ``wasmtime.Store`` plus the raw context pointer and the
  *pending exception* slot used by host functions.
- :func:`instantiate` -> :class:`CoreInstance`.
- Externs: :class:`CoreFunc` (with the fast :meth:`CoreFunc.caller`),
  :class:`CoreMemory` (zero-copy :meth:`CoreMemory.view`), :class:`CoreTable`,
  :class:`CoreGlobal`, :class:`CoreTag`; :data:`CoreExtern` is their union.
- :func:`host_func`: a Python function callable from wasm.

Its modules, each importing only those listed before it: ``capi`` (the bare C
entry points), ``traps`` (errors coming back from wasmtime), ``signatures``
(per-type call layouts), ``engine`` (Engine, its ticker, compiled modules; core
module types come from :mod:`wasmloom.binary.core_module`), ``store``
(CoreStore and its containment), ``calls`` (CoreCall), ``externs``,
``instantiate``, ``fibers`` (async host functions and their trampolines), ``wat``.

Value conventions at this level (callers and host functions alike): ``i32``
and ``i64`` values are passed in as Python ints of any range (masked to the
width, so ``-1`` and ``2**32 - 1`` are the same ``i32``) and come back as
*unsigned* ints; ``f32``/``f64`` are Python floats. NaN payloads of ``f32``
values are not preserved bit-for-bit (a Python float is a double).

Hazards handled here, so no caller has to: a Python exception must never escape
a ctypes callback (the process would abort), a wasmtime object must never be
used with another store (wasmtime panics), and asking wasmtime's C API for the
type of a function that mentions GC reference types aborts the process — so
module types are read from the binary instead.

Fibers. :meth:`CoreFunc.call_async` starts a call on a fiber of its own
(``wasmtime_func_call_async``) and returns a :class:`CoreCall`, polled with
:meth:`CoreCall.poll` until the guest returns; any number of calls may be
paused per store and resumed in any order. :func:`async_host_func` makes a
host function that may suspend the calling fiber by returning a
:class:`Blocked`. The rules, each enforced here:

- *An async host function runs only on a call_async fiber with no Python
  frame on it.* Wasmtime aborts the process (a panic in ``with_blocking``,
  before the host callback is even invoked) when a guest reaches an async
  import outside a fiber, so the guard cannot live in the callback: each
  async host function is a tiny wasm trampoline that reads a per-store flag
  byte (set by :meth:`CoreCall.poll` while a fiber runs, clear on the main
  stack and in start functions) and traps with :data:`SYNC_BLOCK_MESSAGE` /
  :data:`START_BLOCK_MESSAGE` before entering the real async import, which no
  other path can reach. A fiber that carries Python frames (a host function
  made a nested :meth:`CoreFunc.caller` call, or ``Blocked.ready``/``finish``
  did) must never suspend: every Python host frame counts in a per-store depth
  counter that :meth:`CoreCall.poll` saves and starts at 0 for each fiber, and
  the async callback traps with :data:`NESTED_BLOCK_MESSAGE` instead of
  running when it is non-zero. So :meth:`CoreFunc.caller` stays usable for
  every function, and traps only if a call really reaches an async host
  function.
- *The async callback never raises and always sets a continuation* (a Python
  exception there would abort the process): results, a trap, or a poll of the
  :class:`Blocked`.
- *A store's paused futures are deleted before the store* (the other order
  crashes): the ``wasmtime.Store`` subclass used here deletes them first in
  whatever order the garbage collector finalizes; :meth:`CoreStore.close`
  does it on demand; a :class:`CoreCall` outliving them is inert.
- A store becomes :attr:`CoreStore.async_only` when its first async host
  function is created. Wasmtime then refuses its checked entry points
  (``wasmtime_func_call``, ``wasmtime.Func.__call__``, ``wasmtime_instance_new``):
  :func:`instantiate` switches to a linker and ``wasmtime_linker_instantiate_async``
  (start functions run on a fiber that cannot block), while
  :meth:`CoreFunc.caller`, :meth:`CoreFunc.call_async`, :func:`host_func`,
  memories, tables and globals keep working.
"""

from __future__ import annotations

from wasmloom.binary.core_module import CoreGlobalDesc, CoreMemoryDesc, CoreTableDesc, module_type
from wasmloom.core.calls import CoreCall
from wasmloom.core.engine import (
    ASYNC_STACK_SIZE,
    EPOCH_TICK,
    MODULE_CACHE_SIZE,
    CoreModule,
    Engine,
    ModuleDiskCache,
    compile_module,
    default_engine,
)
from wasmloom.core.externs import (
    CoreExtern,
    CoreFunc,
    CoreGlobal,
    CoreMemory,
    CoreTable,
    CoreTag,
    HostFn,
    deferred_host_func,
    host_func,
    wrap_extern,
)
from wasmloom.core.fibers import Blocked, async_host_func
from wasmloom.core.fibers import _suspension_owners as _suspension_owners  # for the tests
from wasmloom.core.instantiate import CoreInstance, instantiate
from wasmloom.core.store import INTERRUPTED_MESSAGE, CoreStore
from wasmloom.core.traps import NESTED_BLOCK_MESSAGE, START_BLOCK_MESSAGE, SYNC_BLOCK_MESSAGE
from wasmloom.core.wat import wat2wasm

__all__ = [
    "ASYNC_STACK_SIZE",
    "EPOCH_TICK",
    "INTERRUPTED_MESSAGE",
    "MODULE_CACHE_SIZE",
    "NESTED_BLOCK_MESSAGE",
    "START_BLOCK_MESSAGE",
    "SYNC_BLOCK_MESSAGE",
    "Blocked",
    "CoreCall",
    "CoreExtern",
    "CoreFunc",
    "CoreGlobal",
    "CoreGlobalDesc",
    "CoreInstance",
    "CoreMemory",
    "CoreMemoryDesc",
    "CoreModule",
    "CoreStore",
    "CoreTable",
    "CoreTableDesc",
    "CoreTag",
    "Engine",
    "HostFn",
    "ModuleDiskCache",
    "async_host_func",
    "compile_module",
    "default_engine",
    "deferred_host_func",
    "host_func",
    "instantiate",
    "module_type",
    "wat2wasm",
    "wrap_extern",
]
