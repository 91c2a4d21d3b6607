"""Calls on fibers: CoreFunc.call_async's CoreCall, polled until the guest returns."""

from __future__ import annotations

import ctypes
import itertools
import struct
from collections.abc import Callable
from typing import Any

from wasmloom.core.capi import (
    _ADDRESS_ZERO,
    _func_call_async,
    _future_delete,
    _future_poll,
    _word,
)
from wasmloom.core.signatures import _KIND, _SLOT, _VAL_FMT, _VAL_SIZE, _val_layout, _ValLayout
from wasmloom.core.traps import _raise_failure
from wasmloom.errors import WasmloomError
from wasmloom.types import CoreFuncType

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
        self.a_args = _word(base)
        self.a_results = _word(base + results_off)
        self.a_trap = _word(base + trap_off)
        self.a_err = _word(base + trap_off + 8)


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
        # CoreCall.__init__, in line
        "        c = new(_PausableCall)",
        "        c._binding = binding",
        "        c._buf = buf",
        "        c._future = byref(address_zero, future)",
        "        c._token = token",
        "        c._state = 0",
        "        c.result = None",
        "        c.yielded = False",
        "        return c",
        "    return start",
    ]
    return "\n".join(lines)


_start_factories: dict[CoreFuncType, Callable[..., Callable[..., CoreCall]]] = {}


class _AsyncBinding:
    """What :meth:`CoreFunc.call_async` needs for one function, derived once."""

    __slots__ = ("a_func", "layout", "pool", "start", "store")

    def __init__(self, func: Any) -> None:  # a core.externs.CoreFunc
        store = self.store = func.store
        store._fiber_flag()  # CoreCall.poll relies on it
        ty = func.ty
        self.layout = layout = _val_layout(ty)
        self.a_func = ctypes.byref(func._raw)
        self.pool: list[_CallBuffer] = []
        factory = _start_factories.get(ty)
        if factory is None:
            namespace: dict[str, Any] = {
                "_PausableCall": _PausableCall,
                "new": object.__new__,
                "byref": ctypes.byref,
                "address_zero": _ADDRESS_ZERO,
            }
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
            _word(layout.nargs),
            _word(layout.nresults),
            store.wasmtime.futures,
            _call_tokens,
            self,
        )


def async_starter(func: Any) -> Callable[..., CoreCall]:
    """``func.call_async`` (``func`` a :class:`~wasmloom.core.externs.CoreFunc`) as the
    function it ends in: ``start(*args)`` starts a call of ``func`` on a fiber of its
    own and returns its :class:`CoreCall`. Derived once, a frame less per call."""
    binding: _AsyncBinding | None = func._async
    if binding is None:
        binding = func._async = _AsyncBinding(func)
    return binding.start


class CoreCall:
    """A call started by :meth:`CoreFunc.call_async`: a fiber polled to completion.

    Nothing runs until the first :meth:`poll`. ``result`` is ``None`` until a
    :meth:`poll` returned ``True``, then the results as for
    :meth:`CoreFunc.caller` (``None``, a value or a tuple; ``i32``/``i64``
    unsigned).

    Any number of calls may be paused in one store at once and resumed in any
    order. :meth:`close` deletes the call's fiber (a paused guest unwinds
    without running further); a call whose store closed it (see
    :meth:`CoreStore.close`) is inert. A call dropped while its guest is paused
    is closed.
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
        # (the start functions of _start_source set these fields in line: keep them in step)
        self._binding = binding
        self._buf = buf
        self._future = _word(future)
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
        # The call returned or failed: take its results, release its buffer and future.
        # It holds no fiber any more: a plain CoreCall, with no finaliser to run.
        self.__class__ = CoreCall
        buf = self._buf
        q = buf.q
        trap = q[buf.trap_i]
        err = q[buf.trap_i + 1]
        binding = self._binding
        result: Any = None
        if not (trap or err):
            layout = binding.layout
            n = layout.nresults
            if n:
                values = layout.results.unpack_from(buf.mem, buf.results_off)
                result = values[0] if n == 1 else values
        # self._release(), in line
        if store.wasmtime.futures.pop(self._token, None) is not None:
            _future_delete(self._future)
            binding.pool.append(buf)
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
            self.__class__ = CoreCall
            self._release()
        elif state == _RUNNING:
            raise WasmloomError("CoreCall.close: the call is running")

    def __repr__(self) -> str:
        state = ("new", "running", "done", "closed")[self._state]
        return f"<CoreCall {self._binding.layout.ty} {state}>"


class _PausableCall(CoreCall):
    """A :class:`CoreCall` that may hold a paused fiber: deleting it closes the call.

    Every call starts as one; once it is done or closed it becomes a plain
    :class:`CoreCall` (same layout), whose deletion runs no Python code.
    """

    __slots__ = ()

    def __del__(self) -> None:
        try:
            if self._state == _NEW:
                self.close()
        except BaseException:
            pass
