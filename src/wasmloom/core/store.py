"""The core store: a wasmtime store and what wasmloom keeps beside it (limits, fuel,
deadlines, interrupts, the epoch callback that yields, the fiber flag).
"""

from __future__ import annotations

import _thread
import ctypes
import itertools
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from wasmloom.core.capi import (
    _M64,
    _check_signals,
    _epoch_deadline_callback,
    _error_new,
    _future_delete,
    _set_epoch_deadline,
    _store_context,
    _store_delete,
    _store_new,
    _word,
)
from wasmloom.core.engine import EPOCH_TICK, Engine, default_engine
from wasmloom.core.signatures import _forget_hosts
from wasmloom.core.traps import _error_from_ptr
from wasmloom.errors import LinkError, WasmloomError
from wasmloom.limits import StoreLimits

# --- store -----------------------------------------------------------------------------


class _WasmtimeStore(wasmtime.Store):
    """A ``wasmtime.Store`` that deletes its live call futures before itself.

    ``futures`` maps a call token to ``(future address, keepalive)``: every
    ``wasmtime_call_future_t`` of this store that is not yet deleted, with the
    buffers it writes into. Deleting the store while a paused future exists
    crashes the process, so :meth:`_delete` (run by ``close()`` and by the
    finalizer, in whatever order the garbage collector finalizes things)
    deletes the futures first.

    It is made and deleted through :mod:`wasmloom.core.capi`, setting the private
    fields that ``wasmtime.Store``'s own ``__init__`` and ``_delete`` set in the
    pinned wasmtime release: a release that renames them fails every store at once.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        # What wasmtime.Store(engine) does for a store without data, through this
        # module's C entry points (it also makes a null finalizer's type, and converts
        # arguments through argtypes, for every store).
        ptr = _store_new(engine.ptr(), None, None)
        self._set_ptr(ptr)
        self._Store__context = _store_context(ptr)
        self.engine = engine
        self.futures: dict[int, tuple[int, object]] = {}

    def close_futures(self) -> None:
        futures = self.futures
        while futures:
            _, (future, _keep) = futures.popitem()
            _future_delete(ctypes.c_void_p(future))

    def _delete(self, ptr: Any) -> None:
        try:
            if self.futures:
                self.close_futures()
        finally:
            # wasmtime.Store._delete
            _store_delete(ptr)
            self._Store__context = None


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
      poll carries on, unless ``yield_wanted`` is set and says that nothing
      else would run meanwhile. Elsewhere it continues: a yield is only
      possible on a fiber, and never with Python frames on it.

    ``time_slicing`` is read by the runtime above: true asks it to run every
    guest on fibers, so that all of them can yield.

    ``scheduler`` holds the runtime's scheduler of this store
    (:class:`wasmloom.runtime.scheduler.Scheduler`) and ``async_values`` how
    its stream, future and error-context values lift and lower
    (:class:`wasmloom.abi.context.AsyncValues`): the host ``Store`` that owns
    this core store sets both when it creates it; core never reads them.
    """

    __slots__ = (
        "__weakref__",
        "_deadline",
        "_deadline_secs",
        "_depth",
        "_epoch_key",
        "_flag",
        "_flag_memory",
        "_host_keys",
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
        "async_values",
        "ctx",
        "ctx_arg",
        "engine",
        "limits",
        "pending",
        "scheduler",
        "time_slicing",
        "wasmtime",
        "yield_wanted",
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
        self.limits = limits if limits is not None else _NO_LIMITS
        self.time_slicing = time_slicing
        self.scheduler: Any = None
        self.async_values: Any = None
        #: Set by the runtime above: whether a yield at an epoch tick would let anything
        #: else run (``None``: always yield where one is possible).
        self.yield_wanted: Callable[[], bool] | None = None
        self._deadline: float | None = None
        self._deadline_secs = 0.0
        self._interrupted = False
        self._yieldable = False  # the running fiber may yield at an epoch tick
        self._yielded = False  # the last pause of the outermost fiber was a yield
        self._poll_tick = 0  # the engine's tick count when the outermost poll began
        self._epoch_key = 0
        self.wasmtime: _WasmtimeStore = _WasmtimeStore(self.engine.wasmtime)
        store_ptr = self.wasmtime.ptr()
        self.ctx: int = ctypes.addressof(self.wasmtime._context().contents)
        self.ctx_arg = _word(self.ctx)
        self.pending: BaseException | None = None
        self._keepalive: list[object] = []
        self._host_keys: list[int] | None = None  # core.signatures' table keys of its hosts
        self._store_id: int | None = None
        self.async_only = False
        # Python host frames on the stack that is running now (the current fiber, or
        # the main stack); CoreCall.poll saves it and starts each fiber at 0.
        self._depth = [0]
        # One byte of a private one-page memory, read by every async trampoline:
        # 1 while a CoreCall fiber runs, 0 on the main stack and in start functions.
        self._flag: memoryview | None = None
        self._flag_memory: wasmtime.Memory | None = None
        self._refuse: Any = None  # core.fibers: the function that refuses a block
        self._instantiating = 0
        self._running = 0  # CoreCall.poll activations in progress
        self._suspensions: dict[int, Any] = {}  # core.fibers' suspended host calls
        if self.limits is not _NO_LIMITS:
            self._apply_limits()
        if self.engine.consume_fuel:
            self.set_fuel(_M64)
        if self.engine.epoch_interruption:
            key = self._epoch_key = next(_epoch_keys)
            _epoch_owners[key] = weakref.ref(self, _epoch_owner_remover(key))
            _epoch_deadline_callback(store_ptr, _EPOCH_CB, ctypes.c_void_p(key), None)
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
        # The store's host functions leave core.signatures' table; its live calls close.
        try:
            keys = self._host_keys
            if keys:
                _forget_hosts(keys)
        except BaseException:
            pass
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
            self._flag_memory = mem
            base = ctypes.addressof(mem.data_ptr(self.wasmtime).contents)
            flag = self._flag = memoryview(_BYTE.from_address(base)).cast("B")
            flag[0] = 0
        return flag


# The limits of a store made without any: every such store shares them (they are frozen).
_NO_LIMITS = StoreLimits()

# The flag byte's ctypes type, made once (not per store: see core.externs._buffer_type).
_BYTE = ctypes.c_ubyte * 1

# Epoch callbacks find their store by key (the callback must not keep stores alive).
_epoch_owners: dict[int, weakref.ref[CoreStore]] = {}
_epoch_keys = itertools.count(1)


def _epoch_owner_remover(key: int) -> Callable[[object], None]:
    """The callback of a store's reference in ``_epoch_owners``: removes the entry
    when the store goes."""

    def remove(_: object) -> None:
        _epoch_owners.pop(key, None)

    return remove


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
        if (
            store._yieldable
            and not store._depth[0]
            and store._poll_tick != store.engine.ticks
            and (store.yield_wanted is None or store.yield_wanted())
        ):
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
