"""The engine (wasmtime configured for the Component Model, its epoch ticker) and compiled core modules."""

from __future__ import annotations

import contextlib
import ctypes
import marshal
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import wasmtime
from wasmtime import _ffi as ffi

from wasmloom.binary.core_module import module_type, module_type_from_data, module_type_to_data
from wasmloom.core.capi import _increment_epoch
from wasmloom.digest import sha256
from wasmloom.errors import ValidationError
from wasmloom.types import CoreExternDesc, CoreFuncType, ModuleType

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
        self._max_wasm_stack = max_wasm_stack
        self._ptr = ctypes.c_void_p(ctypes.cast(self.wasmtime.ptr(), ctypes.c_void_p).value)
        self._ticker: _Ticker | None = None
        #: Ticks the ticker has made (a fiber yields only once one passed while it ran).
        self.ticks = 0
        self._modules: OrderedDict[bytes, CoreModule] = OrderedDict()
        self._lock = threading.Lock()
        #: An optional persistent cache of compiled modules (see :class:`ModuleDiskCache`).
        self.disk_cache: ModuleDiskCache | None = None
        # per core type of host functions, made once: its wasmtime.FuncType (wasmtime ties
        # a function type to the first engine it is used with), that type's pointer, and
        # the shared host callback (core.signatures)
        self.functypes: dict[CoreFuncType, tuple[wasmtime.FuncType, Any, Any]] = {}

    @staticmethod
    def default() -> Engine:
        """The process-wide engine with the default configuration (:func:`default_engine`)."""
        return default_engine()

    @property
    def config_key(self) -> str:
        """What of this engine's configuration changes compiled code (for compile caches)."""
        return (
            f"stack={ASYNC_STACK_SIZE};fuel={self.consume_fuel};"
            f"epochs={self.epoch_interruption};max_stack={self._max_wasm_stack}"
        )

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
        #: One item, true until the thread's loop ends (read by :meth:`alive`, which
        #: every new store calls: cheaper than ``Thread.is_alive``).
        self.running = [True]
        self.thread = threading.Thread(
            target=_tick,
            args=(weakref.ref(engine), engine.epoch_tick, self.running),
            name="wasmloom-epoch",
            daemon=True,
        )
        self.thread.start()

    def alive(self) -> bool:
        """Whether the thread runs, in this process (a forked child has no thread)."""
        return self.running[0] and self.pid == os.getpid()


def _tick(ref: weakref.ref[Engine], period: float, running: list[bool]) -> None:
    sleep = time.sleep
    try:
        while True:
            sleep(period)
            engine = ref()
            if engine is None:
                return
            engine.ticks += 1
            _increment_epoch(engine._ptr)
            del engine
    finally:
        running[0] = False


class ModuleDiskCache(Protocol):
    """Where :func:`compile_module` keeps serialised compiled modules between processes.

    ``key`` is the SHA-256 of the module's bytes; the cache itself must key
    entries by the engine too (wasmtime version and configuration). ``load``
    returns a blob earlier given to ``store`` or ``None``; a blob wasmtime
    rejects is recompiled and stored again. ``compiling(nbytes)`` is entered
    around a real compile (for progress reporting).

    A cache may also have ``load_file(key) -> str | None``: the path of the
    file holding the blob, used instead of ``load``. wasmtime then maps that
    file and runs the code from the mapping, so the cache must never change an
    entry's file in place (only replace it, by renaming a new file over it): a
    file cut or rewritten in place while a process maps it kills that process
    with SIGBUS.
    """

    def load(self, key: bytes) -> bytes | None: ...

    def store(self, key: bytes, blob: bytes) -> None: ...

    def compiling(self, nbytes: int) -> AbstractContextManager[object]: ...


# Optional methods of a ModuleDiskCache, used when it has them:
# - ``load_types(key) -> bytes | None`` / ``store_types(key, blob)``: the module's
#   imports and exports (a :class:`ModuleType` as marshalled tuples) next to the entry, so a
#   warm start does not parse the module in Python again.


_default_engine: Engine | None = None


def default_engine() -> Engine:
    """The process-wide :class:`Engine` with the default configuration (created lazily)."""
    global _default_engine
    if _default_engine is None:
        _default_engine = Engine()
    return _default_engine


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


def compile_module(
    engine: Engine, data: bytes | bytearray | memoryview, key: bytes | None = None
) -> CoreModule:
    """Compile (and validate) a core module binary, or return the cached compile.

    Modules are cached per engine by the SHA-256 of their bytes, so compiling
    the same binary twice returns the same :class:`CoreModule`; ``key``, when
    the caller knows it (a cache record of the file), is that hash. Raises
    :class:`ValidationError` carrying wasmtime's message if the binary is not a
    valid core module under the engine's features.
    """
    data = bytes(data)
    if not data.startswith(b"\0asm"):
        raise ValidationError("not a core wasm binary (missing the \\0asm preamble)")
    if key is None:
        key = sha256(data).digest()
    return compile_keyed(engine, key, lambda: data)


def compile_keyed(engine: Engine, key: bytes, data: Callable[[], bytes]) -> CoreModule:
    """:func:`compile_module` of the binary ``data()`` gives, whose SHA-256 the caller
    knows (``key``) and whose ``\\0asm`` preamble it has checked. ``data()`` is called
    only when the module is not in the engine's cache and its compiled code or its
    types are not in the engine's disk cache."""
    cache = engine._modules
    with engine._lock:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
    module = _load_or_compile(engine, data, key)
    mt = _module_type(engine.disk_cache, key, data)
    compiled = CoreModule(engine, module, mt)
    with engine._lock:
        cache[key] = compiled
        while len(cache) > MODULE_CACHE_SIZE:
            cache.popitem(last=False)
    return compiled


def _module_type(disk: ModuleDiskCache | None, key: bytes, data: Callable[[], bytes]) -> ModuleType:
    """The module's imports and exports: from the disk cache, else parsed (and stored there)."""
    load = getattr(disk, "load_types", None)
    if load is not None:
        blob = load(key)
        if blob is not None:
            with contextlib.suppress(Exception):  # an unreadable entry is parsed again
                return module_type_from_data(marshal.loads(blob))
    try:
        mt = module_type(data())
    except (ValueError, IndexError) as e:
        raise ValidationError(f"cannot read the module's types: {e}") from None
    store = getattr(disk, "store_types", None)
    if store is not None:
        store(key, marshal.dumps(module_type_to_data(mt)))
    return mt


def _deserialize(engine: Engine, blob: bytes) -> wasmtime.Module:
    """``wasmtime.Module.deserialize`` without its extra copy of ``blob`` (wasmtime reads
    the bytes in place; they outlive the call)."""
    ptr = ctypes.POINTER(ffi.wasmtime_module_t)()
    data = ctypes.cast(ctypes.c_char_p(blob), ctypes.POINTER(ctypes.c_uint8))
    error = ffi.wasmtime_module_deserialize(
        engine.wasmtime.ptr(), data, len(blob), ctypes.byref(ptr)
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    return wasmtime.Module._from_ptr(ptr)


def _load_or_compile(engine: Engine, data: Callable[[], bytes], key: bytes) -> wasmtime.Module:
    disk = engine.disk_cache
    if disk is not None:
        # A cache that hands out its entries' files has wasmtime map them instead of
        # reading them (see ModuleDiskCache for what that asks of the cache).
        load_file = getattr(disk, "load_file", None)
        try:
            if load_file is not None:
                path = load_file(key)
                if path is not None:
                    return wasmtime.Module.deserialize_file(engine.wasmtime, path)
            else:
                blob = disk.load(key)
                if blob is not None:
                    return _deserialize(engine, blob)
        except wasmtime.WasmtimeError:
            pass  # stale or foreign: compile again below
    binary = data()
    try:
        if disk is None:
            return wasmtime.Module(engine.wasmtime, binary)
        with disk.compiling(len(binary)):
            module = wasmtime.Module(engine.wasmtime, binary)
    except wasmtime.WasmtimeError as e:
        raise ValidationError(str(e)) from None
    disk.store(key, bytes(module.serialize()))
    return module
