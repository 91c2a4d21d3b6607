"""Async host functions: a host function that may suspend its calling fiber (Blocked),
and the wasm trampolines that keep the fiber rules.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
import weakref
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from wasmloom.core.capi import (
    _AsyncCallback,
    _ContinuationCallback,
    _ContinuationFinalizer,
    _memmove,
    _trap_new,
)
from wasmloom.core.engine import CoreModule, Engine, compile_module
from wasmloom.core.externs import (
    CoreFunc,
    HostFn,
    _functype_plan,
    host_func,
)
from wasmloom.core.instantiate import _instantiate_linked
from wasmloom.core.signatures import _VAL_SIZE, _results_writer, _val_layout
from wasmloom.core.store import CoreStore
from wasmloom.core.traps import NESTED_BLOCK_MESSAGE, START_BLOCK_MESSAGE, SYNC_BLOCK_MESSAGE
from wasmloom.errors import Trap
from wasmloom.types import CoreFuncType


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
        suspension: _Suspension = store._suspensions[env]
        return suspension.step()
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


# The ``wasmtime_extern_t`` of each store's flag memory (see CoreStore._fiber_flag).
_flag_externs: weakref.WeakKeyDictionary[CoreStore, Any] = weakref.WeakKeyDictionary()


def _flag_extern(store: CoreStore) -> Any:
    ext = _flag_externs.get(store)
    if ext is None:
        store._fiber_flag()
        mem = store._flag_memory
        assert mem is not None
        store._check_id(int(mem._memory._anon_1.store_id), "memory")
        ext = _flag_externs[store] = ffi.wasmtime_extern_t(
            ffi.WASMTIME_EXTERN_MEMORY, ffi.wasmtime_extern_union(memory=mem._memory)
        )
    return ext


def _refuse_for(store: CoreStore) -> CoreFunc:
    refuse: CoreFunc | None = store._refuse
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
    module = _trampoline(store.engine, ty)
    instance = _instantiate_linked(
        store,
        module,
        [_flag_extern(store), refuse._as_extern(), None],
        async_funcs={2: (_functype_plan(store.engine, ty)[0], c_callback)},
    )
    store.async_only = True
    func = instance.exports["f"]
    assert isinstance(func, CoreFunc)
    return func
