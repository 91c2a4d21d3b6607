"""Core WebAssembly through wasmtime: the one module of wasmloom that talks to it.

Everything above this module (canonical ABI, runtime, host API) reaches core
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

import _thread
import ctypes
import hashlib
import itertools
import os
import re
import struct
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol, TypeAlias, TypeVar

import wasmtime
from wasmtime import _ffi as ffi

from wasmloom.errors import LinkError, Trap, ValidationError, WasmloomError
from wasmloom.limits import StoreLimits
from wasmloom.types import CoreExternDesc, CoreFuncType, ModuleType

__all__ = [
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
    "host_func",
    "instantiate",
    "module_type",
    "wat2wasm",
    "wrap_extern",
]

# --- bare C entry points ---------------------------------------------------------------
# A private CDLL handle, so these function objects carry no argtypes (wasmtime-py's
# carry them, and converting arguments through argtypes costs more than the call).
# Arguments are always passed as ctypes objects (c_void_p / c_size_t) or ints that
# fit in a C int; results are declared explicitly.

_lib = ctypes.CDLL(ffi.dll._name)

_call_unchecked = _lib.wasmtime_func_call_unchecked
_call_unchecked.restype = ctypes.c_void_p
_func_new_unchecked = _lib.wasmtime_func_new_unchecked
_func_new_unchecked.restype = None
_trap_new = _lib.wasmtime_trap_new
_trap_new.restype = ctypes.c_void_p
_memory_data_size = _lib.wasmtime_memory_data_size
_memory_data_size.restype = ctypes.c_size_t
_memory_data = _lib.wasmtime_memory_data
_memory_data.restype = ctypes.c_void_p
_memory_size = _lib.wasmtime_memory_size
_memory_size.restype = ctypes.c_uint64
_func_call_async = _lib.wasmtime_func_call_async
_func_call_async.restype = ctypes.c_void_p
_future_poll = _lib.wasmtime_call_future_poll
_future_poll.restype = ctypes.c_bool
_future_delete = _lib.wasmtime_call_future_delete
_future_delete.restype = None
_linker_new = _lib.wasmtime_linker_new
_linker_new.restype = ctypes.c_void_p
_linker_delete = _lib.wasmtime_linker_delete
_linker_delete.restype = None
_linker_define = _lib.wasmtime_linker_define
_linker_define.restype = ctypes.c_void_p
_linker_define_async_func = _lib.wasmtime_linker_define_async_func
_linker_define_async_func.restype = ctypes.c_void_p
_linker_instantiate_async = _lib.wasmtime_linker_instantiate_async
_linker_instantiate_async.restype = ctypes.c_void_p
_export_get = _lib.wasmtime_instance_export_get
_export_get.restype = ctypes.c_bool
_increment_epoch = _lib.wasmtime_engine_increment_epoch
_increment_epoch.restype = None
_set_epoch_deadline = _lib.wasmtime_context_set_epoch_deadline
_set_epoch_deadline.restype = None
_epoch_deadline_callback = _lib.wasmtime_store_epoch_deadline_callback
_epoch_deadline_callback.restype = None
_error_new = _lib.wasmtime_error_new
_error_new.restype = ctypes.c_void_p
_check_signals = ctypes.pythonapi.PyErr_CheckSignals
_check_signals.restype = ctypes.c_int
_memmove = ctypes.memmove

_HostCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t
)
# wasmtime_func_async_callback_t: (env, caller, args, nargs, results, nresults, trap_ret,
# continuation); every pointer is taken as an address.
_AsyncCallback = ctypes.CFUNCTYPE(None, *([ctypes.c_size_t] * 8))
# wasmtime_func_async_continuation_callback_t and the continuation's finalizer.
_ContinuationCallback = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_size_t)
_ContinuationFinalizer = ctypes.CFUNCTYPE(None, ctypes.c_size_t)

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF

# --- engine ----------------------------------------------------------------------------

ASYNC_STACK_SIZE = 8 << 20
"""Fiber stack size for async calls: deep C recursion in Python callbacks overflowed 2 MiB."""

MODULE_CACHE_SIZE = 256
"""How many compiled modules each :class:`Engine` keeps, keyed by content hash."""


EPOCH_TICK = float(os.environ.get("WASMLOOM_EPOCH_TICK") or 0.01)
"""Seconds between two epoch ticks of an engine's ticker (the default of
``Engine(epoch_tick=)``): the time slice, and how often deadlines, interrupts and
signals are checked while a guest runs. ``$WASMLOOM_EPOCH_TICK`` overrides it."""


class Engine:
    """A ``wasmtime.Engine`` configured for the Component Model.

    Enabled wasm features: multi-memory, reference types, bulk memory,
    multi-value, tail calls, SIMD, function references, GC, exceptions and
    memory64. The async (fiber) stack is :data:`ASYNC_STACK_SIZE` bytes.
    ``configure``, if given, is called with the ``wasmtime.Config`` after these
    defaults are applied and before the engine is created; this is the only
    place wasmloom exposes ``wasmtime.Config``.

    Containment switches, fixed for the engine's life:

    - ``consume_fuel``: guest code consumes fuel and traps "all fuel consumed"
      when its store has none left (:meth:`CoreStore.set_fuel`). Stores start
      with unlimited fuel. Costs guest speed (a counter on every block).
    - ``epoch_interruption`` (on by default): guest code checks the engine's
      epoch at function entries and loop headers, which is what deadlines,
      :meth:`CoreStore.interrupt`, Python signal handlers and time-slicing
      stand on. A daemon thread per engine (the *ticker*, started with the
      first store) advances the epoch every ``epoch_tick`` seconds.
    - ``max_wasm_stack``: bytes of native stack guest code may use before it
      traps (wasmtime's default when ``None``).

    Linear memories never move: ``memory_may_move`` is forced off after
    ``configure`` runs, because memoryviews of guest memory (the ABI's, and
    the direct views host stream code is handed) would otherwise point at
    freed host memory once a guest grows its memory. A memory therefore
    cannot grow beyond the address space reserved for it when it was made
    (``memory_reservation``, 4 GiB by default on 64-bit hosts, or its initial
    size plus ``memory_reservation_for_growth`` when larger): ``memory.grow``
    past that fails, as when out of memory.

    ``wasmtime`` is the underlying ``wasmtime.Engine``.
    """

    def __init__(
        self,
        configure: Callable[[wasmtime.Config], None] | None = None,
        *,
        consume_fuel: bool = False,
        epoch_interruption: bool = True,
        max_wasm_stack: int | None = None,
        epoch_tick: float | None = None,
    ) -> None:
        epoch_tick = EPOCH_TICK if epoch_tick is None else epoch_tick
        if not epoch_tick > 0:
            raise ValueError(f"epoch_tick must be positive, not {epoch_tick!r}")
        config = wasmtime.Config()
        config.wasm_multi_memory = True
        config.wasm_reference_types = True
        config.wasm_bulk_memory = True
        config.wasm_multi_value = True
        config.wasm_tail_call = True
        config.wasm_simd = True
        config.wasm_function_references = True
        config.wasm_gc = True
        config.wasm_exceptions = True
        config.wasm_memory64 = True
        ffi.wasmtime_config_async_stack_size_set(config.ptr(), ASYNC_STACK_SIZE)
        config.consume_fuel = consume_fuel
        config.epoch_interruption = epoch_interruption
        if max_wasm_stack is not None:
            if not 0 < max_wasm_stack < ASYNC_STACK_SIZE:
                raise ValueError(
                    f"max_wasm_stack must be between 1 and {ASYNC_STACK_SIZE - 1} bytes "
                    f"(below the async stack size), not {max_wasm_stack!r}"
                )
            ffi.wasmtime_config_max_wasm_stack_set(config.ptr(), max_wasm_stack)
        if configure is not None:
            configure(config)
        config.memory_may_move = False
        self.wasmtime = wasmtime.Engine(config)
        self.consume_fuel = consume_fuel
        self.epoch_interruption = epoch_interruption
        self.epoch_tick = epoch_tick
        self._ptr = ctypes.c_void_p(ctypes.cast(self.wasmtime.ptr(), ctypes.c_void_p).value)
        self._ticker: _Ticker | None = None
        #: Ticks the ticker has made (a fiber yields only once one passed while it ran).
        self.ticks = 0
        self._modules: OrderedDict[bytes, CoreModule] = OrderedDict()
        self._lock = threading.Lock()
        #: An optional persistent cache of compiled modules (see :class:`ModuleDiskCache`).
        self.disk_cache: ModuleDiskCache | None = None
        # wasmtime function types of host functions, made once per core type
        # (wasmtime ties a function type to the first engine it is used with)
        self.functypes: dict[CoreFuncType, wasmtime.FuncType] = {}

    def increment_epoch(self) -> None:
        """Advance the epoch: every running guest of the engine checks its store's
        deadline, interrupt and signals at its next function entry or loop header.

        Thread-safe and async-signal-safe enough for a Python signal handler.
        """
        _increment_epoch(self._ptr)

    def start_ticker(self) -> None:
        """Start the engine's ticker thread (see the class docstring), if it is not running."""
        if not self.epoch_interruption:
            return
        t = self._ticker
        if t is None or not t.alive():
            self._ticker = _Ticker(self)


class _Ticker:
    """A daemon thread advancing an engine's epoch every ``epoch_tick`` seconds.

    It holds the engine weakly and ends when the engine is collected; a
    process forked from this one starts its own on first need.
    """

    def __init__(self, engine: Engine) -> None:
        self.pid = os.getpid()
        self.thread = threading.Thread(
            target=_tick,
            args=(weakref.ref(engine), engine.epoch_tick),
            name="wasmloom-epoch",
            daemon=True,
        )
        self.thread.start()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.thread.is_alive()


def _tick(ref: weakref.ref[Engine], period: float) -> None:
    sleep = time.sleep
    while True:
        sleep(period)
        engine = ref()
        if engine is None:
            return
        engine.ticks += 1
        _increment_epoch(engine._ptr)
        del engine


class ModuleDiskCache(Protocol):
    """Where :func:`compile_module` keeps serialised compiled modules between processes.

    ``key`` is the SHA-256 of the module's bytes; the cache itself must key
    entries by the engine too (wasmtime version and configuration). ``load``
    returns a blob earlier given to ``store`` or ``None``; a blob wasmtime
    rejects is recompiled and stored again. ``compiling(nbytes)`` is entered
    around a real compile (for progress reporting).
    """

    def load(self, key: bytes) -> bytes | None: ...

    def store(self, key: bytes, blob: bytes) -> None: ...

    def compiling(self, nbytes: int) -> AbstractContextManager[object]: ...


_default_engine: Engine | None = None


def default_engine() -> Engine:
    """The process-wide :class:`Engine` with the default configuration (created lazily)."""
    global _default_engine
    if _default_engine is None:
        _default_engine = Engine()
    return _default_engine


# --- module types, read from the binary ------------------------------------------------


class CoreTableDesc(NamedTuple):
    """The ``type`` of a table :class:`CoreExternDesc`."""

    element: str  # reference type as text: 'funcref', '(ref null 3)', ...
    min: int
    max: int | None
    table64: bool = False


class CoreMemoryDesc(NamedTuple):
    """The ``type`` of a memory :class:`CoreExternDesc`."""

    min: int  # in pages
    max: int | None
    memory64: bool = False
    shared: bool = False
    page_size_log2: int = 16


class CoreGlobalDesc(NamedTuple):
    """The ``type`` of a global :class:`CoreExternDesc`."""

    valtype: str
    mutable: bool


# For a tag, CoreExternDesc.type is the CoreFuncType of its payload.

_ABSTRACT_HEAP = {
    0x74: "noexn", 0x73: "nofunc", 0x72: "noextern", 0x71: "none", 0x70: "func",
    0x6F: "extern", 0x6E: "any", 0x6D: "eq", 0x6C: "i31", 0x6B: "struct",
    0x6A: "array", 0x69: "exn",
}  # fmt: skip
_NULLABLE_SHORTHAND = {
    "noexn": "nullexnref", "nofunc": "nullfuncref", "noextern": "nullexternref",
    "none": "nullref",
}  # fmt: skip
_NUM_TYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}


class _Reader:
    """A cursor over a valid core module binary (wasmtime validated it first)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def s(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result

    def name(self) -> str:
        n = self.u()
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8")

    def heaptype(self) -> str:
        b = self.data[self.pos]
        if b == 0x65:  # shared
            self.pos += 1
            return "shared " + self.heaptype()
        if b in _ABSTRACT_HEAP:
            self.pos += 1
            return _ABSTRACT_HEAP[b]
        return str(self.s())

    def reftype_after(self, b: int) -> str:
        if b in (0x63, 0x64):
            ht = self.heaptype()
            if b == 0x63:
                return (
                    _NULLABLE_SHORTHAND.get(ht, ht + "ref")
                    if not ht[0].isdigit()
                    else f"(ref null {ht})"
                )
            return f"(ref {ht})"
        return _NULLABLE_SHORTHAND.get(_ABSTRACT_HEAP[b], _ABSTRACT_HEAP[b] + "ref")

    def valtype(self) -> str:
        b = self.byte()
        if b in _NUM_TYPES:
            return _NUM_TYPES[b]
        if b == 0x65:  # shared abstract shorthand
            return "shared " + self.reftype_after(self.byte())
        return self.reftype_after(b)

    def limits(self) -> tuple[int, int | None, bool, bool, int]:
        flags = self.byte()
        lo = self.u()
        hi = self.u() if flags & 0x01 else None
        page_log2 = self.u() if flags & 0x08 else 16
        return lo, hi, bool(flags & 0x04), bool(flags & 0x02), page_log2

    def tabletype(self) -> CoreTableDesc:
        element = self.valtype()
        lo, hi, is64, _, _ = self.limits()
        return CoreTableDesc(element, lo, hi, is64)

    def memtype(self) -> CoreMemoryDesc:
        lo, hi, is64, shared, page_log2 = self.limits()
        return CoreMemoryDesc(lo, hi, is64, shared, page_log2)

    def globaltype(self) -> CoreGlobalDesc:
        vt = self.valtype()
        return CoreGlobalDesc(vt, self.byte() == 0x01)

    def skip_const_expr(self) -> None:
        while True:
            op = self.byte()
            if op == 0x0B:
                return
            if op in (0x41, 0x42):
                self.s()
            elif op == 0x43:
                self.pos += 4
            elif op == 0x44:
                self.pos += 8
            elif op in (0x23, 0xD2):
                self.u()
            elif op == 0xD0:
                self.heaptype()
            elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
                pass
            elif op == 0xFD:
                self.u()  # v128.const is the only constant SIMD opcode
                self.pos += 16
            elif op == 0xFB:
                sub = self.u()
                if sub in (0, 1, 6, 7):
                    self.u()
                elif sub == 8:
                    self.u()
                    self.u()
                elif sub not in (26, 27, 28):
                    raise ValueError(f"unsupported GC opcode 0xfb {sub} in a constant expression")
            else:
                raise ValueError(f"unsupported opcode {op:#x} in a constant expression")


def _parse_types(r: _Reader, types: list[CoreFuncType | None]) -> None:
    for _ in range(r.u()):
        b = r.data[r.pos]
        if b == 0x4E:  # rec group
            r.pos += 1
            count = r.u()
        else:
            count = 1
        for _ in range(count):
            types.append(_parse_subtype(r))


def _parse_subtype(r: _Reader) -> CoreFuncType | None:
    b = r.byte()
    if b in (0x50, 0x4F):  # sub / sub final
        for _ in range(r.u()):
            r.u()
        b = r.byte()
    if b == 0x60:
        params = tuple(r.valtype() for _ in range(r.u()))
        results = tuple(r.valtype() for _ in range(r.u()))
        return CoreFuncType(params, results)
    if b == 0x5F:  # struct
        for _ in range(r.u()):
            _skip_fieldtype(r)
    elif b == 0x5E:  # array
        _skip_fieldtype(r)
    elif b == 0x5D:  # cont
        r.s()
    else:
        raise ValueError(f"unsupported composite type {b:#x}")
    return None


def _skip_fieldtype(r: _Reader) -> None:
    if r.data[r.pos] in (0x78, 0x77):  # packed i8 / i16
        r.pos += 1
    else:
        r.valtype()
    r.byte()  # mutability


def module_type(data: bytes) -> ModuleType:
    """Read the import and export lists of a valid core module binary.

    Each import is ``(module, name, CoreExternDesc)`` and each export
    ``(name, CoreExternDesc)``, in binary order. ``CoreExternDesc.type`` is a
    :class:`CoreFuncType` for functions and tags, else a :class:`CoreTableDesc`,
    :class:`CoreMemoryDesc` or :class:`CoreGlobalDesc`. Value types are text:
    ``i32`` ... ``v128``, ``funcref``, ``externref``, ``(ref null 3)`` (3 being a
    type index of this module). Raises :class:`ValueError` on constructs this
    reader does not know.
    """
    r = _Reader(data, 8)
    types: list[CoreFuncType | None] = []
    funcs: list[int] = []
    tables: list[CoreTableDesc] = []
    memories: list[CoreMemoryDesc] = []
    globals_: list[CoreGlobalDesc] = []
    tags: list[int] = []
    imports: list[tuple[str, str, CoreExternDesc]] = []
    exports: list[tuple[str, CoreExternDesc]] = []
    raw_exports: list[tuple[str, int, int]] = []

    def functype(idx: int) -> CoreFuncType:
        t = types[idx]
        if t is None:
            raise ValueError(f"type {idx} is not a function type")
        return t

    while r.pos < len(data):
        section = r.byte()
        size = r.u()
        end = r.pos + size
        if section == 1:
            _parse_types(r, types)
        elif section == 2:
            for _ in range(r.u()):
                module, name = r.name(), r.name()
                kind = r.byte()
                desc: CoreExternDesc
                if kind == 0x00:
                    idx = r.u()
                    funcs.append(idx)
                    desc = CoreExternDesc("func", functype(idx))
                elif kind == 0x01:
                    tables.append(r.tabletype())
                    desc = CoreExternDesc("table", tables[-1])
                elif kind == 0x02:
                    memories.append(r.memtype())
                    desc = CoreExternDesc("memory", memories[-1])
                elif kind == 0x03:
                    globals_.append(r.globaltype())
                    desc = CoreExternDesc("global", globals_[-1])
                elif kind == 0x04:
                    r.byte()
                    idx = r.u()
                    tags.append(idx)
                    desc = CoreExternDesc("tag", functype(idx))
                else:
                    raise ValueError(f"unsupported import kind {kind:#x}")
                imports.append((module, name, desc))
        elif section == 3:
            funcs.extend(r.u() for _ in range(r.u()))
        elif section == 4:
            for _ in range(r.u()):
                if r.data[r.pos] == 0x40:
                    r.pos += 2
                    tables.append(r.tabletype())
                    r.skip_const_expr()
                else:
                    tables.append(r.tabletype())
        elif section == 5:
            memories.extend(r.memtype() for _ in range(r.u()))
        elif section == 6:
            for _ in range(r.u()):
                globals_.append(r.globaltype())
                r.skip_const_expr()
        elif section == 7:
            for _ in range(r.u()):
                name = r.name()
                kind = r.byte()
                raw_exports.append((name, kind, r.u()))
        elif section == 13:
            for _ in range(r.u()):
                r.byte()
                tags.append(r.u())
        r.pos = end

    for name, kind, idx in raw_exports:
        if kind == 0x00:
            desc = CoreExternDesc("func", functype(funcs[idx]))
        elif kind == 0x01:
            desc = CoreExternDesc("table", tables[idx])
        elif kind == 0x02:
            desc = CoreExternDesc("memory", memories[idx])
        elif kind == 0x03:
            desc = CoreExternDesc("global", globals_[idx])
        elif kind == 0x04:
            desc = CoreExternDesc("tag", functype(tags[idx]))
        else:
            raise ValueError(f"unsupported export kind {kind:#x}")
        exports.append((name, desc))
    return ModuleType(tuple(imports), tuple(exports))


# --- modules ---------------------------------------------------------------------------


class CoreModule:
    """A compiled core module.

    ``imports``: ``(module, name, CoreExternDesc)`` in import order (the order
    :func:`instantiate` expects). ``exports``: ``(name, CoreExternDesc)``.
    ``type`` is the same as a :class:`wasmloom.types.ModuleType`. ``wasmtime``
    is the underlying ``wasmtime.Module``. Immutable and shareable between stores
    of the same engine.
    """

    __slots__ = ("engine", "export_names", "export_types", "exports", "imports", "type", "wasmtime")

    def __init__(self, engine: Engine, module: wasmtime.Module, mt: ModuleType) -> None:
        self.engine = engine
        self.wasmtime = module
        self.type = mt
        self.imports = mt.imports
        self.exports = mt.exports
        self.export_types: dict[str, CoreExternDesc] = dict(mt.exports)
        # each export's name as UTF-8, encoded once for every instance
        self.export_names: dict[str, bytes] = {name: name.encode("utf-8") for name, _ in mt.exports}


def compile_module(engine: Engine, data: bytes | bytearray | memoryview) -> CoreModule:
    """Compile (and validate) a core module binary, or return the cached compile.

    Modules are cached per engine by the SHA-256 of their bytes, so compiling
    the same binary twice returns the same :class:`CoreModule`. Raises
    :class:`ValidationError` carrying wasmtime's message if the binary is not a
    valid core module under the engine's features.
    """
    data = bytes(data)
    if not data.startswith(b"\0asm"):
        raise ValidationError("not a core wasm binary (missing the \\0asm preamble)")
    key = hashlib.sha256(data).digest()
    cache = engine._modules
    with engine._lock:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
    module = _load_or_compile(engine, data, key)
    try:
        mt = module_type(data)
    except (ValueError, IndexError) as e:
        raise ValidationError(f"cannot read the module's types: {e}") from None
    compiled = CoreModule(engine, module, mt)
    with engine._lock:
        cache[key] = compiled
        while len(cache) > MODULE_CACHE_SIZE:
            cache.popitem(last=False)
    return compiled


def _load_or_compile(engine: Engine, data: bytes, key: bytes) -> wasmtime.Module:
    disk = engine.disk_cache
    if disk is not None:
        blob = disk.load(key)
        if blob is not None:
            try:
                return wasmtime.Module.deserialize(engine.wasmtime, blob)
            except wasmtime.WasmtimeError:
                pass  # stale or foreign: compile again below
    try:
        if disk is None:
            return wasmtime.Module(engine.wasmtime, data)
        with disk.compiling(len(data)):
            module = wasmtime.Module(engine.wasmtime, data)
    except wasmtime.WasmtimeError as e:
        raise ValidationError(str(e)) from None
    disk.store(key, bytes(module.serialize()))
    return module


# --- store -----------------------------------------------------------------------------


class _WasmtimeStore(wasmtime.Store):
    """A ``wasmtime.Store`` that deletes its live call futures before itself.

    ``futures`` maps a call token to ``(future address, keepalive)``: every
    ``wasmtime_call_future_t`` of this store that is not yet deleted, with the
    buffers it writes into. Deleting the store while a paused future exists
    crashes the process, so :meth:`_delete` (run by ``close()`` and by the
    finalizer, in whatever order the garbage collector finalizes things)
    deletes the futures first.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        super().__init__(engine)
        self.futures: dict[int, tuple[int, object]] = {}

    def close_futures(self) -> None:
        futures = self.futures
        while futures:
            _, (future, _keep) = futures.popitem()
            _future_delete(ctypes.c_void_p(future))

    def _delete(self, ptr: Any) -> None:
        try:
            self.close_futures()
        finally:
            super()._delete(ptr)


class CoreStore:
    """A ``wasmtime.Store`` (``wasmtime``) and what wasmloom keeps beside it.

    ``ctx`` is the raw ``wasmtime_context_t*`` address, valid as long as this
    object lives. ``pending`` holds the Python exception raised by a host
    function whose trap is still unwinding through wasm; the next
    :meth:`CoreFunc.caller` call, :meth:`CoreCall.poll` (or :func:`instantiate`)
    that sees the trap takes it from here and re-raises it. Every object
    created in this store keeps the store alive, and the store keeps alive
    every host callback. A store is used from one thread at a time.

    ``async_only`` becomes true when the first :func:`async_host_func` is
    created in the store (wasmtime then refuses its checked, synchronous entry
    points; see the module docstring for what keeps working).

    Containment (see :class:`Engine` for the switches it needs): ``limits``
    (a :class:`~wasmloom.limits.StoreLimits`; its core part is wasmtime's
    store limiter), :meth:`set_fuel`/:meth:`get_fuel`, :meth:`set_deadline`,
    :meth:`interrupt`. At each epoch tick a running guest of this store:

    - traps "interrupted" after :meth:`interrupt`, and "deadline of S s
      exceeded" once the deadline has passed (every later entry traps too,
      until the deadline is moved);
    - runs the process' pending Python signal handlers (on the main thread):
      an exception they raise (``KeyboardInterrupt``) traps the guest and is
      re-raised by the call, as a host function's exception is;
    - *yields* when it runs on a :class:`CoreCall` fiber polled from the main
      stack (no guest code or Python host frame under it): :meth:`CoreCall.poll`
      then returns ``False`` with :attr:`CoreCall.yielded` set, and the next
      poll carries on. Elsewhere it continues: a yield is only possible on a
      fiber, and never with Python frames on it.

    ``time_slicing`` is read by the runtime above: true asks it to run every
    guest on fibers, so that all of them can yield.
    """

    __slots__ = (
        "__weakref__",
        "_deadline",
        "_deadline_secs",
        "_depth",
        "_epoch_key",
        "_flag",
        "_flag_memory",
        "_instantiating",
        "_interrupted",
        "_keepalive",
        "_poll_tick",
        "_refuse",
        "_running",
        "_store_id",
        "_suspensions",
        "_yieldable",
        "_yielded",
        "async_only",
        "ctx",
        "ctx_arg",
        "engine",
        "limits",
        "pending",
        "time_slicing",
        "wasmtime",
    )

    def __init__(
        self,
        engine: Engine | None = None,
        limits: StoreLimits | None = None,
        *,
        time_slicing: bool = False,
    ) -> None:
        self.engine = engine if engine is not None else default_engine()
        #: The store's :class:`~wasmloom.limits.StoreLimits` (read by every layer).
        self.limits = limits if limits is not None else StoreLimits()
        self.time_slicing = time_slicing
        self._deadline: float | None = None
        self._deadline_secs = 0.0
        self._interrupted = False
        self._yieldable = False  # the running fiber may yield at an epoch tick
        self._yielded = False  # the last pause of the outermost fiber was a yield
        self._poll_tick = 0  # the engine's tick count when the outermost poll began
        self._epoch_key = 0
        self.wasmtime: _WasmtimeStore = _WasmtimeStore(self.engine.wasmtime)
        ctx = ffi.wasmtime_store_context(self.wasmtime.ptr())
        self.ctx: int = ctypes.cast(ctx, ctypes.c_void_p).value or 0
        self.ctx_arg = ctypes.c_void_p(self.ctx)
        self.pending: BaseException | None = None
        self._keepalive: list[object] = []
        self._store_id: int | None = None
        self.async_only = False
        # Python host frames on the stack that is running now (the current fiber, or
        # the main stack); CoreCall.poll saves it and starts each fiber at 0.
        self._depth = [0]
        # One byte of a private one-page memory, read by every async trampoline:
        # 1 while a CoreCall fiber runs, 0 on the main stack and in start functions.
        self._flag: memoryview | None = None
        self._flag_memory: CoreMemory | None = None
        self._refuse: CoreFunc | None = None
        self._instantiating = 0
        self._running = 0  # CoreCall.poll activations in progress
        self._suspensions: dict[int, _Suspension] = {}
        self._apply_limits()
        if self.engine.consume_fuel:
            self.set_fuel(_M64)
        if self.engine.epoch_interruption:
            key = self._epoch_key = next(_epoch_keys)
            _epoch_owners[key] = weakref.ref(self)
            weakref.finalize(self, _epoch_owners.pop, key, None)
            _epoch_deadline_callback(self.wasmtime.ptr(), _EPOCH_CB, ctypes.c_void_p(key), None)
            _set_epoch_deadline(self.ctx_arg, ctypes.c_uint64(1))
            self.engine.start_ticker()
            _install_unraisable_hook()

    # -- containment

    def _apply_limits(self) -> None:
        lim = self.limits
        values = (lim.memory_size, lim.table_elements, lim.instances, lim.tables, lim.memories)
        if all(v is None for v in values):
            return
        ffi.wasmtime_store_limiter(
            self.wasmtime.ptr(), *(-1 if v is None else min(v, 2**63 - 1) for v in values)
        )

    def set_fuel(self, fuel: int) -> None:
        """Give the store ``fuel`` units (0 to 2**64-1); guests trap "all fuel consumed"
        when it runs out. Raises :class:`WasmloomError` unless the engine consumes fuel."""
        if not self.engine.consume_fuel:
            raise WasmloomError("fuel is off: create the engine with Engine(consume_fuel=True)")
        if not 0 <= fuel <= _M64:
            raise ValueError(f"fuel must be between 0 and 2**64-1, not {fuel!r}")
        err = ffi.wasmtime_context_set_fuel(ffi.wasmtime_store_context(self.wasmtime.ptr()), fuel)
        if err:
            raise WasmloomError(_error_from_ptr(ctypes.cast(err, ctypes.c_void_p).value or 0))

    def get_fuel(self) -> int:
        """The fuel left. Raises :class:`WasmloomError` unless the engine consumes fuel."""
        if not self.engine.consume_fuel:
            raise WasmloomError("fuel is off: create the engine with Engine(consume_fuel=True)")
        out = ctypes.c_uint64()
        err = ffi.wasmtime_context_get_fuel(
            ffi.wasmtime_store_context(self.wasmtime.ptr()), ctypes.byref(out)
        )
        if err:
            raise WasmloomError(_error_from_ptr(ctypes.cast(err, ctypes.c_void_p).value or 0))
        return out.value

    def set_deadline(self, seconds: float | None) -> None:
        """Trap guest code of this store that runs ``seconds`` from now or later
        ("deadline of S s exceeded"); ``None`` removes the deadline. The trap
        comes within one epoch tick of the deadline. Raises
        :class:`WasmloomError` unless the engine has epoch interruption."""
        self._need_epochs("deadlines")
        if seconds is None:
            self._deadline = None
            return
        if not seconds >= 0:
            raise ValueError(f"a deadline is a number of seconds >= 0, not {seconds!r}")
        self._deadline_secs = float(seconds)
        self._deadline = time.monotonic() + seconds

    @property
    def deadline(self) -> float | None:
        """The deadline as a ``time.monotonic()`` instant, or ``None``."""
        return self._deadline

    def interrupt(self) -> None:
        """Make the guest code running in this store (or next entered) trap "interrupted".

        Thread-safe: callable from another thread or a signal handler. The
        interrupt is consumed by the trap it causes.
        """
        self._need_epochs("interrupt()")
        self._interrupted = True
        self.engine.increment_epoch()

    def _need_epochs(self, what: str) -> None:
        if not self.engine.epoch_interruption:
            raise WasmloomError(
                f"{what} need epoch interruption: create the engine with "
                "Engine(epoch_interruption=True)"
            )

    def take_pending(self) -> BaseException | None:
        """Remove and return the pending host exception, if any."""
        exc = self.pending
        self.pending = None
        return exc

    def close(self) -> None:
        """Close every live :class:`CoreCall` of this store (paused ones unwind).

        Their futures are deleted and the calls become inert. The store itself
        stays usable. Runs automatically before the underlying wasmtime store is
        freed. Raises :class:`WasmloomError` if called while a call of this
        store is running (from inside a host function).
        """
        if self._running:
            raise WasmloomError("cannot close a store's calls while one of them is running")
        self.wasmtime.close_futures()

    def __del__(self) -> None:
        try:
            if not self._running:
                self.wasmtime.close_futures()
        except BaseException:
            pass

    def _check_id(self, store_id: int, what: str) -> None:
        if self._store_id is None:
            self._store_id = store_id
        elif self._store_id != store_id:
            raise LinkError(f"{what} belongs to a different store")

    def _fiber_flag(self) -> memoryview:
        """The may-block flag byte's view (creating its memory on first use)."""
        flag = self._flag
        if flag is None:
            limits = wasmtime.Limits(1, 1)
            mem = wasmtime.Memory(self.wasmtime, wasmtime.MemoryType(limits))
            wrapped = wrap_extern(self, mem)
            assert isinstance(wrapped, CoreMemory)
            self._flag_memory = wrapped
            flag = self._flag = wrapped.view()[0:1]
            flag[0] = 0
        return flag


# Epoch callbacks find their store by key (the callback must not keep stores alive).
_epoch_owners: dict[int, weakref.ref[CoreStore]] = {}
_epoch_keys = itertools.count(1)
_YIELD_KIND = 1  # WASMTIME_UPDATE_DEADLINE_YIELD (CONTINUE is 0)

INTERRUPTED_MESSAGE = "interrupted"


def _epoch_error(message: str) -> int:
    return _error_new(message.encode("utf-8", "replace")) or 0


# Exceptions that Python signal handlers raised on the main thread as an epoch
# callback was entered (CPython runs pending handlers at a function's entry, before
# its first line, so the callback cannot catch them: ctypes hands them to
# sys.unraisablehook, whose wrapper below keeps them here for the next callback).
_signal_exceptions: list[BaseException] = []
_MAIN_THREAD = threading.main_thread().ident
_hook_installed = False


def _install_unraisable_hook() -> None:
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.unraisablehook

    def hook(u: Any) -> None:
        if u.object is _on_epoch and u.exc_value is not None:
            _signal_exceptions.append(u.exc_value)
            if isinstance(u.exc_value, KeyboardInterrupt):
                # Should no epoch callback come to take it (the guest returned first),
                # Ctrl-C is delivered again, to plain Python code this time.
                t = threading.Timer(3 * EPOCH_TICK, _redeliver, (u.exc_value,))
                t.daemon = True
                t.start()
            return
        previous(u)

    sys.unraisablehook = hook


def _redeliver(exc: BaseException) -> None:
    try:
        _signal_exceptions.remove(exc)
    except ValueError:
        return  # an epoch callback took it
    _thread.interrupt_main()


def _on_epoch(ctx: int, key: int, delta: int, kind: int) -> int:
    """The epoch deadline callback of every store (see :class:`CoreStore`); never raises."""
    store: CoreStore | None = None
    try:
        ctypes.c_uint64.from_address(delta).value = 1
        ref = _epoch_owners.get(key)
        store = ref() if ref is not None else None
        if store is None:
            return 0
        if _signal_exceptions and threading.get_ident() == _MAIN_THREAD:
            store.pending = _signal_exceptions.pop(0)
            return _epoch_error(f"{INTERRUPTED_MESSAGE} by {type(store.pending).__name__}")
        if store._interrupted:
            store._interrupted = False
            return _epoch_error(INTERRUPTED_MESSAGE)
        deadline = store._deadline
        if deadline is not None and time.monotonic() >= deadline:
            return _epoch_error(f"deadline of {store._deadline_secs:g} s exceeded")
        _check_signals()  # runs pending Python signal handlers (main thread only)
        # The first check after an idle spell finds an old deadline: yield only once a
        # tick has passed since this poll began.
        if store._yieldable and not store._depth[0] and store._poll_tick != store.engine.ticks:
            store._yielded = True
            ctypes.c_uint8.from_address(kind).value = _YIELD_KIND
        return 0
    except BaseException as e:
        try:
            if store is not None:
                store.pending = e
            return _epoch_error(f"{INTERRUPTED_MESSAGE} by {type(e).__name__}")
        except BaseException:
            return 0


_EpochCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t
)
_EPOCH_CB = _EpochCallback(_on_epoch)


# --- traps -----------------------------------------------------------------------------


def _message_of(vec: Any) -> str:
    text = ffi.to_str(vec)
    ffi.wasm_byte_vec_delete(ctypes.byref(vec))
    return text.rstrip("\0")


def _cause(text: str) -> str:
    """A wasmtime error text on one line, as anyhow's ``{:#}`` shows it: ``context: cause``.

    The wasm backtrace that wasmtime puts first for traps is dropped.
    """
    head, sep, tail = text.partition("Caused by:")
    if not sep:
        return text.strip()
    parts = [] if head.startswith("error while executing at wasm backtrace") else [head.strip()]
    for line in tail.strip().splitlines():
        line = line.strip()
        if line[:1].isdigit() and ": " in line:  # "0: ..." when there are several causes
            line = line.split(": ", 1)[1]
        if line:
            parts.append(line)
    return ": ".join(p for p in parts if p)


_FRAME = re.compile(r"^\s*\d+:\s+(0x[0-9a-fA-F]+ - .*?)\s*$")


def _backtrace(text: str) -> tuple[str, ...]:
    """The frames of the wasm backtrace that wasmtime puts before a trap's cause."""
    head, sep, _ = text.partition("Caused by:")
    if not sep or not head.startswith("error while executing at wasm backtrace"):
        return ()
    return tuple(m.group(1) for line in head.splitlines() if (m := _FRAME.match(line)))


def _trap_from_ptr(trap_addr: int) -> Trap:
    ptr = ctypes.cast(trap_addr, ctypes.POINTER(ffi.wasm_trap_t))
    vec = ffi.wasm_byte_vec_t()
    ffi.wasm_trap_message(ptr, ctypes.byref(vec))
    ffi.wasm_trap_delete(ptr)
    text = _message_of(vec)
    return Trap(_cause(text), backtrace=_backtrace(text))


def _error_from_ptr(err_addr: int) -> str:
    ptr = ctypes.cast(err_addr, ctypes.POINTER(ffi.wasmtime_error_t))
    vec = ffi.wasm_byte_vec_t()
    ffi.wasmtime_error_message(ptr, ctypes.byref(vec))
    ffi.wasmtime_error_delete(ptr)
    return _message_of(vec)


def _instantiation_error(message: str) -> WasmloomError:
    """A failed core instantiation: a :class:`Trap` when a store limit refused it, else a
    :class:`LinkError`."""
    if message.startswith("resource limit exceeded") or "exceeds memory limits" in message:
        return Trap(message)
    return LinkError(message)


def _raise_failure(store: CoreStore, err: int | None, trap_addr: int) -> None:
    """Turn a failed call (error pointer and/or trap pointer) into an exception.

    A pending host exception wins: it is what the failure is really about.
    """
    trap = _trap_from_ptr(trap_addr) if trap_addr else None
    message = _cause(_error_from_ptr(err)) if err else None
    exc = store.take_pending()
    if exc is not None:
        raise exc
    if trap is not None:
        raise trap
    raise Trap(message or "call failed")


# --- call signatures -------------------------------------------------------------------

_SLOT = {"i32": ("I", 4, _M32), "i64": ("Q", 2, _M64), "f32": ("f", 4, None), "f64": ("d", 2, None)}
_PAD = {"i32": "12x", "i64": "8x", "f32": "12x", "f64": "8x"}


class _Signature:
    """The ``wasmtime_val_raw_t`` slot layout of one core function type.

    Arguments occupy slots ``0..len(params)``, results overwrite slots
    ``0..len(results)``; each slot is 16 bytes. ``nslots`` is the buffer length
    in slots. ``params_struct``/``results_struct`` pack and unpack all slots at
    once.
    """

    __slots__ = ("buf_type", "nslots", "params_struct", "results_struct", "ty")

    def __init__(self, ty: CoreFuncType) -> None:
        for t in (*ty.params, *ty.results):
            if t not in _SLOT:
                raise NotImplementedError(f"core value type {t} cannot cross into Python")
        self.ty = ty
        self.nslots = max(len(ty.params), len(ty.results))
        # the ctypes view of the slots a host callback receives
        self.buf_type = ctypes.c_char * max(16 * self.nslots, 1)
        self.params_struct = struct.Struct("<" + "".join(_SLOT[t][0] + _PAD[t] for t in ty.params))
        self.results_struct = struct.Struct(
            "<" + "".join(_SLOT[t][0] + _PAD[t] for t in ty.results)
        )


_signatures: dict[CoreFuncType, _Signature] = {}


def _signature(ty: CoreFuncType) -> _Signature:
    sig = _signatures.get(ty)
    if sig is None:
        sig = _signatures[ty] = _Signature(ty)
    return sig


def _caller_source(ty: CoreFuncType) -> str:
    """Python source of a caller factory specialised to ``ty``.

    The factory binds one argument/result buffer; the returned function stores
    the (masked) arguments into typed memoryviews over it, makes the bare
    ``wasmtime_func_call_unchecked`` call, checks the error and trap slots and
    reads the results back. It refuses re-entry while busy and hands nested
    calls to ``nested`` (which uses another buffer).
    """
    args = [f"a{i}" for i in range(len(ty.params))]
    lines = [
        "def factory(views, call, a_ctx, a_func, a_buf, a_n, a_trap, trap_index, fail, nested):",
        "    I, Q, F, D = views",
        "    busy = False",
        f"    def caller({', '.join(args)}):",
        "        nonlocal busy",
        "        if busy:",
        f"            return nested({', '.join(args)})",
        "        try:",
        "            busy = True",
    ]
    view = {"I": "I", "Q": "Q", "f": "F", "d": "D"}
    for i, t in enumerate(ty.params):
        code, per, mask = _SLOT[t]
        value = f"a{i} & {mask:#x}" if mask is not None else f"a{i}"
        lines.append(f"            {view[code]}[{i * per}] = {value}")
    lines.append("            err = call(a_ctx, a_func, a_buf, a_n, a_trap)")
    lines.append("            if err or Q[trap_index]:")
    lines.append("                fail(err)")
    reads = []
    for i, t in enumerate(ty.results):
        code, per, _ = _SLOT[t]
        reads.append(f"{view[code]}[{i * per}]")
    if not reads:
        lines.append("            return None")
    elif len(reads) == 1:
        lines.append(f"            return {reads[0]}")
    else:
        lines.append(f"            return ({', '.join(reads)},)")
    lines += ["        finally:", "            busy = False", "    return caller"]
    return "\n".join(lines)


_caller_factories: dict[CoreFuncType, Callable[..., Callable[..., Any]]] = {}


def _caller_factory(ty: CoreFuncType) -> Callable[..., Callable[..., Any]]:
    factory = _caller_factories.get(ty)
    if factory is None:
        _signature(ty)  # rejects types that cannot cross
        namespace: dict[str, Any] = {}
        exec(_caller_source(ty), namespace)
        factory = _caller_factories[ty] = namespace["factory"]
    return factory


def _host_source(ty: CoreFuncType) -> str:
    """Python source of a host-callback factory specialised to ``ty``.

    The callback reads the arguments from the ``wasmtime_val_raw_t`` array wasm
    passed, calls ``fn``, writes the results back and returns 0; any exception
    becomes a trap pointer through ``on_error`` and never escapes. ``depth[0]``
    counts the Python host frames on the running stack while ``fn`` runs.
    """
    n = len(ty.results)
    lines = [
        "def factory(fn, from_address, unpack, pack, on_error, depth):",
        "    def callback(env, caller, args, nargs):",
        "        depth[0] += 1",
        "        try:",
    ]
    call = "fn(*unpack(b, 0))" if ty.params else "fn()"
    if ty.params or n:
        lines.append("            b = from_address(args)")
    lines.append(f"            r = {call}")
    if n == 0:
        lines += [
            "            if r is not None:",
            "                raise TypeError(f'host function returned {r!r}, expected None')",
        ]
    else:
        names = ["r"] if n == 1 else [f"r{i}" for i in range(n)]
        if n > 1:
            lines.append(f"            {', '.join(names)} = r")
        packed = []
        for name, t in zip(names, ty.results, strict=True):
            mask = _SLOT[t][2]
            packed.append(f"{name} & {mask:#x}" if mask is not None else name)
        lines.append(f"            pack(b, 0, {', '.join(packed)})")
    lines += [
        "            return 0",
        "        except BaseException as e:",
        "            return on_error(e)",
        "        finally:",
        "            depth[0] -= 1",
        "    return callback",
    ]
    return "\n".join(lines)


_host_factories: dict[CoreFuncType, Callable[..., Callable[..., int]]] = {}


def _host_factory(ty: CoreFuncType) -> Callable[..., Callable[..., int]]:
    factory = _host_factories.get(ty)
    if factory is None:
        _signature(ty)
        namespace: dict[str, Any] = {}
        exec(_host_source(ty), namespace)
        factory = _host_factories[ty] = namespace["factory"]
    return factory


# --- externs ---------------------------------------------------------------------------


class CoreFunc:
    """A core function in a store, with its type ``ty`` (derived once)."""

    __slots__ = ("_async", "_caller", "_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreFuncType) -> None:
        self.store = store
        self._raw = raw  # wasmtime_func_t; its address must stay stable
        self.ty = ty
        self._caller: Callable[..., Any] | None = None
        self._async: _AsyncBinding | None = None

    def call_async(self, *args: Any) -> CoreCall:
        """Start this function on a fiber of its own; nothing runs until :meth:`CoreCall.poll`.

        Arguments as for :meth:`caller`. Use it for calls that may block in an
        :func:`async_host_func`; see :class:`CoreCall`.
        """
        binding = self._async
        if binding is None:
            binding = self._async = _AsyncBinding(self)
        return binding.start(*args)

    def caller(self) -> Callable[..., Any]:
        """Return a fast Python callable for this function: ``f(*args)``.

        Takes exactly ``len(ty.params)`` positional arguments: ints of any range
        for ``i32``/``i64`` (masked to the width), floats (or ints) for
        ``f32``/``f64``. Returns ``None`` for no result, the value for one,
        a tuple for several; ``i32``/``i64`` results are *unsigned*.

        Raises :class:`wasmloom.Trap` with wasmtime's trap text (without the wasm
        backtrace), e.g. ``"wasm trap: wasm `unreachable` instruction executed"``.
        If a host function raised a Python exception while this call was running,
        that exception itself is re-raised instead (a :class:`Trap` raised by the
        host function comes back as that same object, message unchanged).

        The callable is re-entrant: a host function may call it again while it
        is running (each nested activation gets its own buffer). The same
        callable is returned on every call. Raises ``NotImplementedError`` if the
        type has parameters or results other than i32/i64/f32/f64.
        """
        c = self._caller
        if c is None:
            c = self._caller = self._bind()
        return c

    def _bind(self) -> Callable[..., Any]:
        ty = self.ty
        factory = _caller_factory(ty)
        nslots = _signature(ty).nslots
        store = self.store
        a_func = ctypes.pointer(self._raw)  # keeps the wasmtime_func_t alive with the caller
        a_n = ctypes.c_size_t(nslots)
        trap_index = 2 * nslots
        spare: list[Callable[..., Any]] = []

        def nested(*args: Any) -> Any:
            inner = spare.pop() if spare else make()
            try:
                return inner(*args)
            finally:
                spare.append(inner)

        def make() -> Callable[..., Any]:
            buf = ctypes.create_string_buffer(16 * nslots + 8)
            base = ctypes.addressof(buf)
            raw = memoryview(buf).cast("B")
            views = (raw.cast("I"), raw.cast("Q"), raw.cast("f"), raw.cast("d"))
            q = views[1]

            def fail(err: int | None) -> None:
                trap_addr = q[trap_index]
                q[trap_index] = 0
                _raise_failure(store, err, trap_addr)

            return factory(
                views,
                _call_unchecked,
                store.ctx_arg,
                a_func,
                ctypes.c_void_p(base),
                a_n,
                ctypes.c_void_p(base + 16 * nslots),
                trap_index,
                fail,
                nested,
            )

        return make()

    def call(self, *args: Any) -> Any:
        """Convenience: ``self.caller()(*args)``."""
        return self.caller()(*args)

    def to_wasmtime(self) -> wasmtime.Func:
        """This function as a ``wasmtime.Func`` (same store)."""
        return wasmtime.Func._from_raw(self._raw)

    def _as_extern(self) -> Any:
        return ffi.wasmtime_extern_t(
            ffi.WASMTIME_EXTERN_FUNC, ffi.wasmtime_extern_union(func=self._raw)
        )

    def __repr__(self) -> str:
        return f"<CoreFunc {self.ty}>"


class CoreMemory:
    """A linear memory in a store; ``ty`` is its :class:`CoreMemoryDesc`.

    :meth:`view` gives zero-copy access. Any call into wasm and any
    :meth:`grow` may grow the memory: re-obtain the view afterwards rather
    than keeping an old one. The memory never moves (see :class:`Engine`),
    so an old view stays mapped for as long as it lives (it keeps the store
    alive), but it does not cover bytes added since it was taken.
    """

    __slots__ = ("_arg", "_raw", "_view", "_view_len", "ptr_type", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreMemoryDesc) -> None:
        self.store = store
        self._raw = raw  # wasmtime_memory_t
        self._arg = ctypes.pointer(raw)
        self.ty = ty
        self.ptr_type = "i64" if ty.memory64 else "i32"
        self._view: memoryview = memoryview(bytearray())
        self._view_len = -1

    def view(self) -> memoryview:
        """A writable ``'B'`` memoryview of the whole memory, exactly its current size.

        Cached, and re-derived whenever the data size changed since the cached
        view was made, so the view returned never extends beyond the memory.
        """
        n = _memory_data_size(self.store.ctx_arg, self._arg)
        if n != self._view_len:
            if n:
                base = _memory_data(self.store.ctx_arg, self._arg)
                data = (ctypes.c_ubyte * n).from_address(base)
                data._owner = self  # a view keeps its memory (and store) alive
                self._view = memoryview(data).cast("B")
            else:
                self._view = memoryview(bytearray())
            self._view_len = n
        return self._view

    def data_size(self) -> int:
        """Current size in bytes."""
        return int(_memory_data_size(self.store.ctx_arg, self._arg))

    def size(self) -> int:
        """Current size in pages (like ``memory.size``)."""
        return int(_memory_size(self.store.ctx_arg, self._arg))

    def grow(self, pages: int) -> int:
        """Grow by ``pages``; return the previous size in pages, or -1 if it cannot grow."""
        if pages < 0:
            return -1
        prev = ctypes.c_uint64(0)
        err = ffi.wasmtime_memory_grow(
            self.store.wasmtime._context(), ctypes.byref(self._raw), pages, ctypes.byref(prev)
        )
        if err:
            ffi.wasmtime_error_delete(err)
            return -1
        return prev.value

    def _as_extern(self) -> Any:
        return ffi.wasmtime_extern_t(
            ffi.WASMTIME_EXTERN_MEMORY, ffi.wasmtime_extern_union(memory=self._raw)
        )


class CoreTable:
    """A table in a store; ``ty`` is its :class:`CoreTableDesc`."""

    __slots__ = ("_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreTableDesc) -> None:
        self.store = store
        self._raw = raw
        self.ty = ty

    def size(self) -> int:
        return int(ffi.wasmtime_table_size(self.store.wasmtime._context(), ctypes.byref(self._raw)))

    def get_func(self, index: int) -> CoreFunc | None:
        """The function at ``index`` of this ``funcref`` table.

        ``None`` when ``index`` is out of bounds or the element is a null
        reference. Only for ``funcref`` tables (other element types are refused
        before wasmtime is asked, see :func:`wrap_extern`).
        """
        if self.ty.element != "funcref":
            raise TypeError(f"not a funcref table: {self.ty.element}")
        if not 0 <= index < self.size():
            return None
        item = wasmtime.Table._from_raw(self._raw).get(self.store.wasmtime, index)
        if not isinstance(item, wasmtime.Func):
            return None
        f = wrap_extern(self.store, item)
        assert isinstance(f, CoreFunc)
        return f

    def _as_extern(self) -> Any:
        return ffi.wasmtime_extern_t(
            ffi.WASMTIME_EXTERN_TABLE, ffi.wasmtime_extern_union(table=self._raw)
        )


class CoreGlobal:
    """A global in a store; ``ty`` is its :class:`CoreGlobalDesc`.

    :meth:`get`/:meth:`set` handle numeric globals (i32/i64 read back as
    wasmtime gives them: signed).
    """

    __slots__ = ("_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreGlobalDesc) -> None:
        self.store = store
        self._raw = raw
        self.ty = ty

    def get(self) -> Any:
        return wasmtime.Global._from_raw(self._raw).value(self.store.wasmtime)

    def set(self, value: Any) -> None:
        if not self.ty.mutable:
            raise WasmloomError("cannot set an immutable global")
        try:
            wasmtime.Global._from_raw(self._raw).set_value(self.store.wasmtime, value)
        except wasmtime.WasmtimeError as e:
            raise WasmloomError(str(e)) from None

    def _as_extern(self) -> Any:
        return ffi.wasmtime_extern_t(
            ffi.WASMTIME_EXTERN_GLOBAL, ffi.wasmtime_extern_union(global_=self._raw)
        )


class CoreTag:
    """An exception tag in a store; ``ty`` is the :class:`CoreFuncType` of its payload."""

    __slots__ = ("_raw", "store", "ty")

    def __init__(self, store: CoreStore, raw: Any, ty: CoreFuncType) -> None:
        self.store = store
        self._raw = raw
        self.ty = ty

    def _as_extern(self) -> Any:
        return ffi.wasmtime_extern_t(
            ffi.WASMTIME_EXTERN_TAG, ffi.wasmtime_extern_union(tag=self._raw)
        )


CoreExtern: TypeAlias = CoreFunc | CoreMemory | CoreTable | CoreGlobal | CoreTag

_KIND_OF: dict[type, str] = {
    CoreFunc: "func",
    CoreMemory: "memory",
    CoreTable: "table",
    CoreGlobal: "global",
    CoreTag: "tag",
}


def _store_id_of(raw: Any) -> int:
    if isinstance(raw, ffi.wasmtime_table_t | ffi.wasmtime_memory_t | ffi.wasmtime_tag_t):
        return int(raw._anon_1.store_id)
    return int(raw.store_id)


_E = TypeVar("_E", CoreFunc, CoreMemory, CoreTable, CoreGlobal, CoreTag)

# --- host functions --------------------------------------------------------------------

HostFn: TypeAlias = Callable[..., Any]

_VALTYPES: dict[str, Callable[[], wasmtime.ValType]] = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def _wasmtime_functype(ty: CoreFuncType) -> wasmtime.FuncType:
    return wasmtime.FuncType(
        [_VALTYPES[t]() for t in ty.params], [_VALTYPES[t]() for t in ty.results]
    )


def host_func(store: CoreStore, ty: CoreFuncType, fn: HostFn) -> CoreFunc:
    """A core function of type ``ty`` in ``store`` that calls ``fn`` (raw, unchecked).

    ``fn(*args)`` receives unsigned ints for i32/i64 and floats for f32/f64, and
    returns ``None`` (no results), a value (one result) or a tuple (several);
    ints may be of any range (masked to the width).

    If ``fn`` raises :class:`wasmloom.Trap`, the guest traps with exactly that
    message. If it raises anything else (including a wrong return value), the
    guest traps too, and the original exception is stored in
    ``store.pending`` and re-raised by the :meth:`CoreFunc.caller` call (or
    :func:`instantiate`) through which the trap unwinds; through nested
    wasm -> host -> wasm chains it keeps propagating outward unless a host
    function catches it. No exception ever escapes into wasmtime.

    Only i32/i64/f32/f64 are supported (``NotImplementedError`` otherwise).
    The callback lives as long as ``store``.
    """
    sig = _signature(ty)
    buf_type = sig.buf_type

    def on_error(e: BaseException) -> int:
        try:
            store.pending = e
            if isinstance(e, Trap):
                message = e.message
            else:
                message = f"host function raised {type(e).__name__}: {e}"
            data = message.encode("utf-8", "replace")
        except BaseException:
            data = b"host function raised an exception"
        try:
            return int(_trap_new(data, ctypes.c_size_t(len(data))))
        except BaseException:
            return int(_trap_new(b"host function failed", ctypes.c_size_t(20)))

    callback = _host_factory(ty)(
        fn,
        buf_type.from_address,
        sig.params_struct.unpack_from,
        sig.results_struct.pack_into,
        on_error,
        store._depth,
    )
    c_callback = _HostCallback(callback)
    functypes = store.engine.functypes
    wt_type = functypes.get(ty)
    if wt_type is None:
        wt_type = functypes[ty] = _wasmtime_functype(ty)
    raw = ffi.wasmtime_func_t()
    _func_new_unchecked(
        store.ctx_arg,
        ctypes.c_void_p(ctypes.cast(wt_type.ptr(), ctypes.c_void_p).value),
        c_callback,
        None,
        None,
        ctypes.byref(raw),
    )
    store._keepalive.append(c_callback)
    store._check_id(int(raw.store_id), "function")
    return CoreFunc(store, raw, ty)


# --- instances -------------------------------------------------------------------------


class CoreInstance:
    """An instantiated core module: ``exports`` maps each export name to its extern."""

    __slots__ = ("exports", "module", "store")

    def __init__(
        self, store: CoreStore, module: CoreModule, exports: Mapping[str, CoreExtern]
    ) -> None:
        self.store = store
        self.module = module
        self.exports = exports

    def func(self, name: str) -> CoreFunc:
        """The exported function ``name`` (``LinkError`` if missing or not a function)."""
        return self._get(name, CoreFunc)

    def memory(self, name: str) -> CoreMemory:
        """The exported memory ``name`` (``LinkError`` if missing or not a memory)."""
        return self._get(name, CoreMemory)

    def _get(self, name: str, cls: type[_E]) -> _E:
        item = self.exports.get(name)
        if not isinstance(item, cls):
            what = "missing" if item is None else f"a {_KIND_OF[type(item)]}"
            raise LinkError(f"core export `{name}` is {what}, expected a {_KIND_OF[cls]}")
        return item


def _wrap_raw(store: CoreStore, item: Any, desc: CoreExternDesc) -> CoreExtern:
    kind = item.kind
    if kind == ffi.WASMTIME_EXTERN_FUNC.value:
        raw = ffi.wasmtime_func_t()
        ctypes.pointer(raw)[0] = item.of.func
        return CoreFunc(store, raw, desc.type)
    if kind == ffi.WASMTIME_EXTERN_MEMORY.value:
        mem = ffi.wasmtime_memory_t()
        ctypes.pointer(mem)[0] = item.of.memory
        return CoreMemory(store, mem, desc.type)
    if kind == ffi.WASMTIME_EXTERN_TABLE.value:
        table = ffi.wasmtime_table_t()
        ctypes.pointer(table)[0] = item.of.table
        return CoreTable(store, table, desc.type)
    if kind == ffi.WASMTIME_EXTERN_GLOBAL.value:
        glob = ffi.wasmtime_global_t()
        ctypes.pointer(glob)[0] = item.of.global_
        return CoreGlobal(store, glob, desc.type)
    if kind == ffi.WASMTIME_EXTERN_TAG.value:
        tag = ffi.wasmtime_tag_t()
        ctypes.pointer(tag)[0] = item.of.tag
        return CoreTag(store, tag, desc.type)
    raise LinkError(f"unsupported core extern kind {kind} (shared memories are not supported)")


def instantiate(
    store: CoreStore, module: CoreModule, imports: Sequence[CoreExtern]
) -> CoreInstance:
    """Instantiate ``module`` in ``store`` with ``imports`` in the module's import order.

    Raises :class:`LinkError` for a wrong number of imports, an import of the
    wrong kind, from another store, or of a type wasmtime rejects (wasmtime's
    message); :class:`Trap` if the start function traps (or the pending host
    exception, as for :meth:`CoreFunc.caller`).
    """
    if module.engine is not store.engine:
        raise LinkError("module was compiled for a different engine than the store's")
    expected = module.imports
    if len(imports) != len(expected):
        raise LinkError(f"module expects {len(expected)} imports, {len(imports)} given")
    externs = (ffi.wasmtime_extern_t * max(len(imports), 1))()
    for i, (item, (mod_name, name, desc)) in enumerate(zip(imports, expected, strict=True)):
        kind = _KIND_OF.get(type(item))
        where = f"import `{mod_name}::{name}`"
        if kind != desc.kind:
            raise LinkError(f"{where}: expected a {desc.kind}, got {kind or type(item).__name__}")
        if item.store is not store:
            raise LinkError(f"{where}: the {kind} belongs to a different store")
        externs[i] = item._as_extern()
    if store.async_only:
        return _instantiate_linked(store, module, externs[: len(imports)])
    instance = ffi.wasmtime_instance_t()
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    err = ffi.wasmtime_instance_new(
        store.wasmtime._context(),
        module.wasmtime.ptr(),
        externs,
        len(imports),
        ctypes.byref(instance),
        ctypes.byref(trap),
    )
    if trap:
        _raise_failure(store, None, ctypes.cast(trap, ctypes.c_void_p).value or 0)
    if err:
        message = _error_from_ptr(ctypes.cast(err, ctypes.c_void_p).value or 0)
        exc = store.take_pending()
        if exc is not None:
            raise exc
        raise _instantiation_error(_cause(message))
    store._check_id(int(instance.store_id), "instance")
    return _instance_of(store, module, instance)


class _LazyExports(Mapping[str, "CoreExtern"]):
    """A core instance's exports, each wrapped on first use.

    Components built by toolchains export thousands of core items of which a
    program uses a few; fetching them one by one on demand keeps start-up cheap.
    Names and kinds come from the module's type, so membership needs no call.
    """

    __slots__ = ("_cache", "_instance", "_names", "_store", "_types")

    def __init__(self, store: CoreStore, module: CoreModule, instance: Any) -> None:
        self._store = store
        self._instance = ctypes.byref(instance)
        self._types = module.export_types
        self._names = module.export_names
        self._cache: dict[str, CoreExtern] = {}

    def __getitem__(self, name: str) -> CoreExtern:
        item = self._cache.get(name)
        if item is not None:
            return item
        desc = self._types[name]  # KeyError for a name the module does not export
        raw = self._names[name]
        raw_item = ffi.wasmtime_extern_t()
        found = _export_get(
            self._store.ctx_arg,
            self._instance,
            raw,
            ctypes.c_size_t(len(raw)),
            ctypes.byref(raw_item),
        )
        if not found:  # pragma: no cover - the module type lists every export
            raise KeyError(name)
        item = self._cache[name] = _wrap_raw(self._store, raw_item, desc)
        return item

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)


def _instance_of(store: CoreStore, module: CoreModule, instance: Any) -> CoreInstance:
    return CoreInstance(store, module, _LazyExports(store, module, instance))


# --- fibers: async calls and async host functions --------------------------------------

_KIND = {"i32": 0, "i64": 1, "f32": 2, "f64": 3}  # WASMTIME_I32 ... WASMTIME_F64
_VAL_SIZE = ctypes.sizeof(ffi.wasmtime_val_t)  # 32: kind at offset 0, value at offset 8
_VAL_FMT = {"i32": "I20x", "i64": "Q16x", "f32": "f20x", "f64": "d16x"}

NESTED_BLOCK_MESSAGE = (
    "cannot block: a Python host function is on the stack of this call "
    "(a host function made a nested call that reached an async host function)"
)
SYNC_BLOCK_MESSAGE = (
    "cannot block: an async host function was reached from a synchronous call "
    "(CoreFunc.caller()); use CoreFunc.call_async()"
)
START_BLOCK_MESSAGE = (
    "cannot block a synchronous task before returning "
    "(an async host function was reached from a start function)"
)


class Blocked:
    """Returned by an :func:`async_host_func` function to suspend the guest.

    Each :meth:`CoreCall.poll` of the suspended call calls ``ready()``; once it
    returns true, ``finish()`` gives the host function's results (``None``, a
    value or a tuple, as for :func:`host_func`) or raises (a :class:`Trap`
    traps with its message; any other exception traps and is re-raised by
    :meth:`CoreCall.poll`). Both run on the call's fiber with a Python frame on
    it, so a guest they call cannot block.
    """

    __slots__ = ("finish", "ready")

    def __init__(self, ready: Callable[[], bool], finish: Callable[[], Any]) -> None:
        self.ready = ready
        self.finish = finish


class _ValLayout:
    """``wasmtime_val_t`` array layouts of one core function type (checked calls)."""

    __slots__ = ("nargs", "nresults", "params", "results", "results_out", "ty")

    def __init__(self, ty: CoreFuncType) -> None:
        _signature(ty)  # rejects types that cannot cross
        self.ty = ty
        self.nargs = len(ty.params)
        self.nresults = len(ty.results)
        # params/results as wasmtime writes them (values only; kinds skipped)
        self.params = struct.Struct("<" + "".join("8x" + _VAL_FMT[t] for t in ty.params))
        self.results = struct.Struct("<" + "".join("8x" + _VAL_FMT[t] for t in ty.results))
        # results as a host function writes them (kind byte, then the value)
        self.results_out = struct.Struct("<" + "".join("B7x" + _VAL_FMT[t] for t in ty.results))


_val_layouts: dict[CoreFuncType, _ValLayout] = {}


def _val_layout(ty: CoreFuncType) -> _ValLayout:
    layout = _val_layouts.get(ty)
    if layout is None:
        layout = _val_layouts[ty] = _ValLayout(ty)
    return layout


def _writer_source(ty: CoreFuncType, name: str) -> str:
    """Source of ``name(r, address)``: store host results ``r`` as ``wasmtime_val_t``s."""
    n = len(ty.results)
    lines = [f"def {name}(r, address):"]
    if n == 0:
        lines += [
            "    if r is not None:",
            "        raise TypeError(f'host function returned {r!r}, expected None')",
        ]
        return "\n".join(lines)
    names = ["r"] if n == 1 else [f"r{i}" for i in range(n)]
    if n > 1:
        lines.append(f"    {', '.join(names)} = r")
    packed = []
    for nm, t in zip(names, ty.results, strict=True):
        mask = _SLOT[t][2]
        packed.append(f"{_KIND[t]}, {nm} & {mask:#x}" if mask is not None else f"{_KIND[t]}, {nm}")
    lines.append(f"    pack(from_address(address), 0, {', '.join(packed)})")
    return "\n".join(lines)


_writers: dict[CoreFuncType, Callable[[Any, int], None]] = {}


def _results_writer(ty: CoreFuncType) -> Callable[[Any, int], None]:
    writer = _writers.get(ty)
    if writer is None:
        layout = _val_layout(ty)
        namespace: dict[str, Any] = {
            "pack": layout.results_out.pack_into,
            "from_address": (ctypes.c_char * max(_VAL_SIZE * layout.nresults, 1)).from_address,
        }
        exec(_writer_source(ty, "write"), namespace)
        writer = _writers[ty] = namespace["write"]
    return writer


def _set_trap(trap_ret: int, message: str) -> None:
    data = message.encode("utf-8", "replace")
    trap = _trap_new(data, ctypes.c_size_t(len(data)))
    ctypes.c_size_t.from_address(trap_ret).value = int(trap or 0)


def _continuation_bytes(callback: Any, env: int, finalizer: Any) -> bytes:
    """A ``wasmtime_async_continuation_t`` as bytes (callback, env, finalizer)."""
    cb = ctypes.cast(callback, ctypes.c_void_p).value or 0
    fin = 0
    if finalizer is not None:
        fin = ctypes.cast(finalizer, ctypes.c_void_p).value or 0
    return struct.pack("<QQQ", cb, env, fin)


class _Suspension:
    """A host function suspended in a :class:`Blocked`, polled as a continuation."""

    __slots__ = ("blocked", "depth", "results", "store", "trap_ret", "write")

    def __init__(
        self,
        store: CoreStore,
        blocked: Blocked,
        write: Callable[[Any, int], None],
        results: int,
        trap_ret: int,
    ) -> None:
        self.store = weakref.ref(store)  # the table of suspensions must not keep stores alive
        self.blocked = blocked
        self.write = write
        self.results = results
        self.trap_ret = trap_ret
        self.depth = store._depth

    def step(self) -> bool:
        depth = self.depth
        depth[0] += 1
        try:
            blocked = self.blocked
            if not blocked.ready():
                return False
            self.write(blocked.finish(), self.results)
            return True
        except BaseException as e:
            _report(self.store(), e, self.trap_ret)
            return True
        finally:
            depth[0] -= 1


# A suspension belongs to its store (store._suspensions, so what its Blocked refers to
# stays collectable with the store); continuations find it by key through a weak map.
_suspension_owners: dict[int, weakref.ref[CoreStore]] = {}
_suspension_ids = itertools.count(1)


def _report(store: CoreStore | None, e: BaseException, trap_ret: int) -> None:
    """Make a host exception the trap of the current async host call (never raises)."""
    try:
        if store is not None:
            store.pending = e
        message = (
            e.message if isinstance(e, Trap) else f"host function raised {type(e).__name__}: {e}"
        )
        _set_trap(trap_ret, message)
    except BaseException:
        try:
            _set_trap(trap_ret, "host function failed")
        except BaseException:
            pass


def _continuation_poll(env: int) -> bool:
    try:
        store = _suspension_owners[env]()
        assert store is not None
        return store._suspensions[env].step()
    except BaseException:  # the suspension is gone: cannot happen while it is polled
        return True


def _continuation_ready(env: int) -> bool:
    return True


def _continuation_drop(env: int) -> None:
    try:
        ref = _suspension_owners.pop(env, None)
        store = ref() if ref is not None else None
        if store is not None:
            store._suspensions.pop(env, None)
    except BaseException:
        pass


# Module-level, so they outlive every store (a store's finalizer may drop continuations).
_POLL_CB = _ContinuationCallback(_continuation_poll)
_READY_CB = _ContinuationCallback(_continuation_ready)
_DROP_CB = _ContinuationFinalizer(_continuation_drop)
_READY_CONTINUATION = _continuation_bytes(_READY_CB, 0, None)
_PACK_CONTINUATION = struct.Struct("<QQQ").pack
_POLL_ADDR = ctypes.cast(_POLL_CB, ctypes.c_void_p).value or 0
_DROP_ADDR = ctypes.cast(_DROP_CB, ctypes.c_void_p).value or 0


def _async_source(ty: CoreFuncType) -> str:
    """Source of the ``wasmtime_func_async_callback_t`` factory for ``ty``.

    The callback always leaves a continuation set: the ready one (results
    written, or a trap set in ``trap_ret``) or, for a :class:`Blocked`, one
    that polls it. No exception escapes. If Python host frames are on the
    running stack (``depth[0]`` non-zero), ``fn`` is not called and the guest
    traps with :data:`NESTED_BLOCK_MESSAGE`.
    """
    call = "fn(*unpack(from_address(args), 0))" if ty.params else "fn()"
    lines = [
        "def factory(fn, unpack, from_address, write, depth, on_block, on_error, last_resort):",
        "    def callback(env, caller, args, nargs, results, nresults, trap_ret, cont):",
        "        try:",
        "            if depth[0]:",
        "                on_error(Trap(NESTED_MSG), trap_ret, cont)",
        "                return",
        "            depth[0] += 1",
        "            try:",
        f"                r = {call}",
        "            finally:",
        "                depth[0] -= 1",
        "            if isinstance(r, Blocked):",
        "                on_block(r, results, trap_ret, cont)",
        "            else:",
        "                write(r, results)",
        "                memmove(cont, READY, 24)",
        "        except BaseException as e:",
        "            try:",
        "                on_error(e, trap_ret, cont)",
        "            except BaseException:",
        "                last_resort(trap_ret, cont)",
        "    return callback",
    ]
    return "\n".join(lines)


_async_factories: dict[CoreFuncType, Callable[..., Callable[..., None]]] = {}


def _async_factory(ty: CoreFuncType) -> Callable[..., Callable[..., None]]:
    factory = _async_factories.get(ty)
    if factory is None:
        namespace: dict[str, Any] = {
            "Blocked": Blocked,
            "Trap": Trap,
            "NESTED_MSG": NESTED_BLOCK_MESSAGE,
            "memmove": _memmove,
            "READY": _READY_CONTINUATION,
        }
        exec(_async_source(ty), namespace)
        factory = _async_factories[ty] = namespace["factory"]
    return factory


def _last_resort(trap_ret: int, cont: int) -> None:
    try:
        _memmove(cont, _READY_CONTINUATION, 24)
        _set_trap(trap_ret, "host function failed")
    except BaseException:
        pass


def _trampoline_wat(ty: CoreFuncType) -> str:
    params = " ".join(ty.params)
    results = " ".join(ty.results)
    sig = (f"(param {params})" if params else "") + (f" (result {results})" if results else "")
    args = " ".join(f"(local.get {i})" for i in range(len(ty.params)))
    return f"""(module
  (import "wasmloom" "flag" (memory 1 1))
  (import "wasmloom" "refuse" (func $refuse))
  (import "wasmloom" "async" (func $f {sig}))
  (func (export "f") {sig}
    (if (i32.eqz (i32.load8_u (i32.const 0))) (then (call $refuse) (unreachable)))
    (call $f {args})))"""


_trampolines: dict[tuple[Engine, CoreFuncType], CoreModule] = {}


def _trampoline(engine: Engine, ty: CoreFuncType) -> CoreModule:
    key = (engine, ty)
    module = _trampolines.get(key)
    if module is None:
        module = _trampolines[key] = compile_module(engine, wasmtime.wat2wasm(_trampoline_wat(ty)))
    return module


def _refuse_for(store: CoreStore) -> CoreFunc:
    refuse = store._refuse
    if refuse is None:

        def fail() -> None:
            raise Trap(START_BLOCK_MESSAGE if store._instantiating else SYNC_BLOCK_MESSAGE)

        refuse = store._refuse = host_func(store, CoreFuncType((), ()), fail)
    return refuse


def async_host_func(
    store: CoreStore,
    ty: CoreFuncType,
    fn: HostFn,
    on_sync: Callable[[], None] | None = None,
) -> CoreFunc:
    """A core function of type ``ty`` in ``store`` that may suspend the guest.

    ``fn(*args)`` receives the arguments as for :func:`host_func` and returns
    either its results at once (``None``, a value or a tuple) or a
    :class:`Blocked`, which suspends the calling :class:`CoreCall` until
    ``ready()`` is true. Exceptions become traps exactly as for
    :func:`host_func` (the original exception is re-raised by the
    :meth:`CoreCall.poll` through which the trap unwinds); nothing ever escapes
    into wasmtime.

    ``fn`` runs only when the guest reaches it on a :meth:`CoreFunc.call_async`
    fiber with no Python host frame on that fiber. Reached from a synchronous
    :meth:`CoreFunc.caller` call or a start function, the guest traps with
    :data:`SYNC_BLOCK_MESSAGE` / :data:`START_BLOCK_MESSAGE`; reached from a
    nested call made by a Python host function (or by ``ready``/``finish``),
    with :data:`NESTED_BLOCK_MESSAGE`. In each case ``fn`` is not called.
    ``on_sync``, when given, runs first in the synchronous case and may raise
    a :class:`~wasmloom.Trap` that names a rule the guest broke earlier (for
    example ``cannot leave component instance``) in place of the generic one.

    The store becomes :attr:`CoreStore.async_only`. The returned function is a
    small wasm trampoline that checks the first rule before entering the
    wasmtime async function, which is reachable by no other path.
    """
    layout = _val_layout(ty)
    store._fiber_flag()
    refuse = _refuse_for(store)
    if on_sync is not None:
        generic = refuse.caller()

        def refuse_checked() -> None:
            on_sync()
            generic()

        refuse = host_func(store, CoreFuncType((), ()), refuse_checked)
    write = _results_writer(ty)
    depth = store._depth
    store_ref = weakref.ref(store)

    def on_block(blocked: Blocked, results: int, trap_ret: int, cont: int) -> None:
        key = next(_suspension_ids)
        store._suspensions[key] = _Suspension(store, blocked, write, results, trap_ret)
        _suspension_owners[key] = store_ref
        _memmove(cont, _PACK_CONTINUATION(_POLL_ADDR, key, _DROP_ADDR), 24)

    def on_error(e: BaseException, trap_ret: int, cont: int) -> None:
        _memmove(cont, _READY_CONTINUATION, 24)
        _report(store, e, trap_ret)

    callback = _async_factory(ty)(
        fn,
        layout.params.unpack_from,
        (ctypes.c_char * max(_VAL_SIZE * layout.nargs, 1)).from_address,
        write,
        depth,
        on_block,
        on_error,
        _last_resort,
    )
    c_callback = _AsyncCallback(callback)
    store._keepalive.append(c_callback)
    memory = store._flag_memory
    assert memory is not None
    module = _trampoline(store.engine, ty)
    instance = _instantiate_linked(
        store,
        module,
        [memory._as_extern(), refuse._as_extern(), None],
        async_funcs={2: (_wasmtime_functype(ty), c_callback)},
    )
    store.async_only = True
    func = instance.exports["f"]
    assert isinstance(func, CoreFunc)
    return func


def _linker_define_extern(
    linker: int, store: CoreStore, module: str, name: str, extern: Any
) -> int:
    m = module.encode("utf-8")
    n = name.encode("utf-8")
    return int(
        _linker_define(
            ctypes.c_void_p(linker),
            store.ctx_arg,
            m,
            ctypes.c_size_t(len(m)),
            n,
            ctypes.c_size_t(len(n)),
            ctypes.byref(extern),
        )
        or 0
    )


def _run_instantiate(store: CoreStore, module: CoreModule, linker: int) -> CoreInstance:
    """Run ``wasmtime_linker_instantiate_async`` to completion (start cannot block)."""
    instance = ffi.wasmtime_instance_t()
    slots = (ctypes.c_size_t * 2)()  # trap, error
    base = ctypes.addressof(slots)
    future = _linker_instantiate_async(
        ctypes.c_void_p(linker),
        store.ctx_arg,
        ctypes.c_void_p(ctypes.cast(module.wasmtime.ptr(), ctypes.c_void_p).value),
        ctypes.byref(instance),
        ctypes.c_void_p(base),
        ctypes.c_void_p(base + 8),
    )
    flag = store._fiber_flag()
    depth = store._depth
    saved_flag, saved_depth = flag[0], depth[0]
    flag[0] = 0
    depth[0] = 0
    store._instantiating += 1
    try:
        done = _future_poll(ctypes.c_void_p(future))
    finally:
        store._instantiating -= 1
        flag[0], depth[0] = saved_flag, saved_depth
        _future_delete(ctypes.c_void_p(future))
    if not done:  # impossible by construction: nothing can suspend with the flag clear
        raise Trap(START_BLOCK_MESSAGE)
    trap, err = slots[0], slots[1]
    if trap:
        _raise_failure(store, None, trap)
    if err:
        message = _error_from_ptr(err)
        exc = store.take_pending()
        if exc is not None:
            raise exc
        raise _instantiation_error(_cause(message))
    store._check_id(int(instance.store_id), "instance")
    return _instance_of(store, module, instance)


def _instantiate_linked(
    store: CoreStore,
    module: CoreModule,
    externs: Sequence[Any],
    async_funcs: dict[int, tuple[wasmtime.FuncType, Any]] | None = None,
) -> CoreInstance:
    """Instantiate through a wasmtime linker and ``wasmtime_linker_instantiate_async``.

    ``externs[i]`` is the ``wasmtime_extern_t`` for import ``i`` (``None`` where
    ``async_funcs[i]`` gives the type and ``_AsyncCallback`` of an async host
    function to define there). The start function runs on a fiber with the
    may-block flag clear, so it cannot block; the instantiation completes in
    one poll.
    """
    linker = int(
        _linker_new(
            ctypes.c_void_p(ctypes.cast(store.engine.wasmtime.ptr(), ctypes.c_void_p).value)
        )
    )
    try:
        seen: dict[tuple[str, str], bytes] = {}
        for i, (mod_name, name, _desc) in enumerate(module.imports):
            extern = externs[i]
            where = f"import `{mod_name}::{name}`"
            if extern is None:
                assert async_funcs is not None
                functype, callback = async_funcs[i]
                key_bytes = b"async%d" % i
            else:
                key_bytes = bytes(extern)
            previous = seen.get((mod_name, name))
            if previous is not None:
                if previous != key_bytes:
                    raise LinkError(f"{where}: imported twice with different items")
                continue
            seen[(mod_name, name)] = key_bytes
            if extern is None:
                m = mod_name.encode("utf-8")
                n = name.encode("utf-8")
                err = _linker_define_async_func(
                    ctypes.c_void_p(linker),
                    m,
                    ctypes.c_size_t(len(m)),
                    n,
                    ctypes.c_size_t(len(n)),
                    ctypes.c_void_p(ctypes.cast(functype.ptr(), ctypes.c_void_p).value),
                    callback,
                    None,
                    None,
                )
            else:
                err = _linker_define_extern(linker, store, mod_name, name, extern)
            if err:
                raise LinkError(f"{where}: {_cause(_error_from_ptr(err))}")
        return _run_instantiate(store, module, linker)
    finally:
        _linker_delete(ctypes.c_void_p(linker))


# --- async calls -------------------------------------------------------------------------

_NEW, _RUNNING, _DONE, _CLOSED = 0, 1, 2, 3
_call_tokens = itertools.count(1)


class _CallBuffer:
    """One call's argument/result ``wasmtime_val_t`` arrays and trap/error slots."""

    __slots__ = ("a_args", "a_err", "a_results", "a_trap", "mem", "q", "results_off", "trap_i")

    def __init__(self, layout: _ValLayout) -> None:
        results_off = _VAL_SIZE * layout.nargs
        trap_off = results_off + _VAL_SIZE * layout.nresults
        self.mem = ctypes.create_string_buffer(trap_off + 16)
        base = ctypes.addressof(self.mem)
        self.q = memoryview(self.mem).cast("B")[: trap_off + 16].cast("Q")
        self.trap_i = trap_off // 8
        self.results_off = results_off
        self.a_args = ctypes.c_void_p(base)
        self.a_results = ctypes.c_void_p(base + results_off)
        self.a_trap = ctypes.c_void_p(base + trap_off)
        self.a_err = ctypes.c_void_p(base + trap_off + 8)


def _start_source(ty: CoreFuncType) -> str:
    """Source of a ``start(*args) -> CoreCall`` factory specialised to ``ty``.

    ``start`` packs the (masked) arguments as ``wasmtime_val_t``s into a pooled
    :class:`_CallBuffer`, creates the future and registers it with the store.
    """
    args = [f"a{i}" for i in range(len(ty.params))]
    packed = []
    for a, t in zip(args, ty.params, strict=True):
        mask = _SLOT[t][2]
        packed.append(f"{_KIND[t]}, {a} & {mask:#x}" if mask is not None else f"{_KIND[t]}, {a}")
    lines = [
        "def factory(pack, pool, new_buf, call, a_ctx, a_func, a_n, a_r, futures, tokens, binding):",
        f"    def start({', '.join(args)}):",
        "        buf = pool.pop() if pool else new_buf()",
        "        try:",
        f"            pack(buf.mem, 0, {', '.join(packed)})" if packed else "            pass",
        "        except BaseException:",
        "            pool.append(buf)",
        "            raise",
        "        q = buf.q",
        "        i = buf.trap_i",
        "        q[i] = 0",
        "        q[i + 1] = 0",
        "        future = call(a_ctx, a_func, buf.a_args, a_n, buf.a_results, a_r, buf.a_trap,"
        " buf.a_err)",
        "        token = next(tokens)",
        "        futures[token] = (future, (buf, binding))",
        "        return CoreCall(binding, buf, future, token)",
        "    return start",
    ]
    return "\n".join(lines)


_start_factories: dict[CoreFuncType, Callable[..., Callable[..., CoreCall]]] = {}


class _AsyncBinding:
    """What :meth:`CoreFunc.call_async` needs for one function, derived once."""

    __slots__ = ("a_func", "layout", "pool", "start", "store")

    def __init__(self, func: CoreFunc) -> None:
        store = self.store = func.store
        store._fiber_flag()  # CoreCall.poll relies on it
        ty = func.ty
        self.layout = layout = _val_layout(ty)
        self.a_func = ctypes.pointer(func._raw)
        self.pool: list[_CallBuffer] = []
        factory = _start_factories.get(ty)
        if factory is None:
            namespace: dict[str, Any] = {"CoreCall": CoreCall}
            exec(_start_source(ty), namespace)
            factory = _start_factories[ty] = namespace["factory"]
        fmt = "<" + "".join("B7x" + _VAL_FMT[t] for t in ty.params)
        self.start: Callable[..., CoreCall] = factory(
            struct.Struct(fmt).pack_into,
            self.pool,
            lambda: _CallBuffer(layout),
            _func_call_async,
            store.ctx_arg,
            self.a_func,
            ctypes.c_size_t(layout.nargs),
            ctypes.c_size_t(layout.nresults),
            store.wasmtime.futures,
            _call_tokens,
            self,
        )


class CoreCall:
    """A call started by :meth:`CoreFunc.call_async`: a fiber polled to completion.

    Nothing runs until the first :meth:`poll`. ``result`` is ``None`` until a
    :meth:`poll` returned ``True``, then the results as for
    :meth:`CoreFunc.caller` (``None``, a value or a tuple; ``i32``/``i64``
    unsigned).

    Any number of calls may be paused in one store at once and resumed in any
    order. :meth:`close` deletes the call's fiber (a paused guest unwinds
    without running further); a call whose store closed it (see
    :meth:`CoreStore.close`) is inert.
    """

    __slots__ = (
        "__weakref__",
        "_binding",
        "_buf",
        "_future",
        "_state",
        "_token",
        "result",
        "yielded",
    )

    def __init__(self, binding: _AsyncBinding, buf: _CallBuffer, future: int, token: int) -> None:
        self._binding = binding
        self._buf = buf
        self._future = ctypes.c_void_p(future)
        self._token = token
        self._state = _NEW
        self.result: Any = None
        #: Whether the last :meth:`poll` returned ``False`` because the guest
        #: yielded at an epoch tick (time-slicing), not because it blocked.
        self.yielded = False

    @property
    def done(self) -> bool:
        """Whether the call completed (a :meth:`poll` returned ``True``)."""
        return self._state == _DONE

    @property
    def closed(self) -> bool:
        """Whether the call was closed, failed, or its store closed it."""
        return self._state == _CLOSED or (
            self._state == _NEW and self._token not in self._binding.store.wasmtime.futures
        )

    def poll(self) -> bool:
        """Run the guest until it returns (``True``), blocks in an async host
        function, or yields at an epoch tick (``False``; see :attr:`yielded`).

        Raises :class:`Trap` (or the original exception of a host function) as
        :meth:`CoreFunc.caller` does; the call is then closed. After ``True``,
        further polls return ``True``. Raises :class:`WasmloomError` if the call
        was closed, or if it is polled from inside its own run.
        """
        if self._state != _NEW:
            if self._state == _DONE:
                return True
            if self._state == _RUNNING:
                raise WasmloomError("CoreCall.poll: the call is already running")
            raise WasmloomError("CoreCall.poll: the call was closed")
        store = self._binding.store
        if self._token not in store.wasmtime.futures:
            self._state = _CLOSED
            raise WasmloomError("CoreCall.poll: the call was closed")
        flag = store._flag
        assert flag is not None
        depth = store._depth
        saved_flag = flag[0]
        saved_depth = depth[0]
        saved_yieldable = store._yieldable
        # Only the outermost activation may yield: nothing is under it but the poller.
        store._yieldable = not (saved_depth or store._running)
        store._yielded = False
        store._poll_tick = store.engine.ticks
        flag[0] = 1
        depth[0] = 0
        self._state = _RUNNING
        store._running += 1
        try:
            done = _future_poll(self._future)
        finally:
            store._running -= 1
            self._state = _NEW
            flag[0] = saved_flag
            depth[0] = saved_depth
            store._yieldable = saved_yieldable
        if not done:
            self.yielded = store._yielded
            return False
        self.yielded = False
        return self._complete(store)

    def _complete(self, store: CoreStore) -> bool:
        buf = self._buf
        q = buf.q
        trap = q[buf.trap_i]
        err = q[buf.trap_i + 1]
        binding = self._binding
        result: Any = None
        if not (trap or err):
            values = binding.layout.results.unpack_from(buf.mem, buf.results_off)
            n = len(values)
            result = values[0] if n == 1 else (values if n else None)
        self._release()
        if trap or err:
            self._state = _CLOSED
            _raise_failure(store, err or None, trap)
        self.result = result
        self._state = _DONE
        return True

    def _release(self) -> None:
        binding = self._binding
        entry = binding.store.wasmtime.futures.pop(self._token, None)
        if entry is not None:
            _future_delete(self._future)
            binding.pool.append(self._buf)

    def close(self) -> None:
        """Delete the call's future; a paused guest unwinds. Idempotent.

        Raises :class:`WasmloomError` if called from inside the call's own run.
        """
        state = self._state
        if state == _NEW:
            self._state = _CLOSED
            self._release()
        elif state == _RUNNING:
            raise WasmloomError("CoreCall.close: the call is running")

    def __del__(self) -> None:
        try:
            if self._state == _NEW:
                self.close()
        except BaseException:
            pass

    def __repr__(self) -> str:
        state = ("new", "running", "done", "closed")[self._state]
        return f"<CoreCall {self._binding.layout.ty} {state}>"


# --- aliasing existing wasmtime externs -------------------------------------------------


def _valtype_text(vt: wasmtime.ValType) -> str:
    text = str(vt)
    return "externref" if text == "anyref" else text


def wrap_extern(store: CoreStore, item: Any) -> CoreExtern:
    """Wrap a ``wasmtime`` extern (``Func``, ``Memory``, ``Table``, ``Global``, ``Tag``).

    ``item`` must belong to ``store.wasmtime``; its type is read once through
    wasmtime's API, so it must only involve MVP value types (wasmtime's C API
    aborts the process on GC reference types).
    """
    wt = store.wasmtime
    if isinstance(item, wasmtime.Func):
        ft = item.type(wt)
        ty = CoreFuncType(
            tuple(_valtype_text(p) for p in ft.params), tuple(_valtype_text(r) for r in ft.results)
        )
        raw = item._func
        store._check_id(_store_id_of(raw), "function")
        return CoreFunc(store, raw, ty)
    if isinstance(item, wasmtime.Memory):
        mt = item.type(wt)
        store._check_id(_store_id_of(item._memory), "memory")
        desc = CoreMemoryDesc(
            mt.limits.min, mt.limits.max, mt.is_64, mt.is_shared, mt.page_size_log2
        )
        return CoreMemory(store, item._memory, desc)
    if isinstance(item, wasmtime.Table):
        tt = item.type(wt)
        store._check_id(_store_id_of(item._table), "table")
        return CoreTable(
            store,
            item._table,
            CoreTableDesc(_valtype_text(tt.element), tt.limits.min, tt.limits.max),
        )
    if isinstance(item, wasmtime.Global):
        gt = item.type(wt)
        store._check_id(_store_id_of(item._global), "global")
        return CoreGlobal(
            store, item._global, CoreGlobalDesc(_valtype_text(gt.content), gt.mutable)
        )
    if isinstance(item, wasmtime.Tag):
        ft = item.type(wt).functype
        store._check_id(_store_id_of(item._tag), "tag")
        ty = CoreFuncType(
            tuple(_valtype_text(p) for p in ft.params), tuple(_valtype_text(r) for r in ft.results)
        )
        return CoreTag(store, item._tag, ty)
    raise TypeError(f"not a wasmtime extern: {type(item).__name__}")


def wat2wasm(text: str) -> bytes:
    """Translate WebAssembly text (a core module or a component) to its binary.

    Raises :class:`wasmloom.DecodeError` (offset 0) with wasmtime's message
    when the text does not parse.
    """
    from wasmloom.errors import DecodeError

    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as e:
        raise DecodeError(0, f"valid WebAssembly text ({str(e).splitlines()[0]})") from None
