"""Host functions as component functions: a Python function a guest calls (sync or
``async def``), and the host calls in flight that it settles or cancels."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any

from wasmloom import types as T
from wasmloom.abi.codecs import ClassMap
from wasmloom.errors import Trap
from wasmloom.runtime.lift import ComponentFunc, OnCancel, OnResolve, OnStart, no_cancel
from wasmloom.runtime.scheduler import Root
from wasmloom.runtime.tasks import CANCELLED, instance_state
from wasmloom.runtime.traps import poison

if TYPE_CHECKING:
    import asyncio

    from wasmloom.runtime import hostcoro
    from wasmloom.runtime.scope import ComponentInstance
else:
    from wasmloom.aio import asyncio


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE


def iscoroutinefunction(fn: object) -> bool:
    """``inspect.iscoroutinefunction(fn)``. A plain function or method, while ``inspect``
    is not loaded (so nothing can have marked it a coroutine function), is told by its
    code's flags without importing ``inspect``."""
    if "inspect" not in sys.modules:
        f = fn
        while type(f) is MethodType:
            f = f.__func__
        if type(f) is FunctionType:
            return bool(f.__code__.co_flags & _CO_COROUTINE)
    import inspect

    return inspect.iscoroutinefunction(fn)


def fail_host_call(inst: Any, root: Any, exc: BaseException) -> None:
    """A host function called by ``inst`` failed: poison ``inst`` and fail the host call
    (``root``, when there is one) waiting on it."""
    poison(inst, exc)
    if root is not None:
        root.fail(exc)


def settle_host_call(
    resolve: Callable[[Any], None],
    inst: Any,
    root: Any,
    result: Any,
    exc: BaseException | None,
    was_cancelled: bool,
    cancelled: bool,
) -> None:
    """A suspended async host call of ``inst`` ended: ``resolve`` its caller with the
    result (or CANCELLED, when the caller cancelled it), or fail the call."""
    if was_cancelled:
        if cancelled:
            resolve(CANCELLED)
        return
    if exc is not None:
        fail_host_call(inst, root, exc)
        return
    try:
        resolve(result)
    except Exception as e:
        fail_host_call(inst, root, e)


def cancel_host_call(call: Any) -> None:
    """Cancel a suspended async host call (``handle``: its coroutine): the coroutine is
    cancelled, and a call closed before it ran on is settled CANCELLED at once."""
    h = call.handle
    if h is None or h.done():
        return
    call.cancelled = True
    if h.cancel():
        # Closed before its worker took it up: it never runs on.
        call.sched.host_pending -= 1
        call.finished(None, None, True)


class _HostCall:
    """One call of an async host function whose coroutine suspended (see :mod:`hostcoro`)."""

    __slots__ = ("caller", "cancelled", "handle", "on_resolve", "root", "sched")

    def __init__(self, sched: Any, caller: Any, root: Root | None, on_resolve: OnResolve) -> None:
        self.sched = sched
        self.caller = caller
        self.root = root
        self.on_resolve = on_resolve
        self.cancelled = False
        self.handle: hostcoro.HostCoroutine | None = None

    def finished(self, result: Any, exc: BaseException | None, was_cancelled: bool) -> None:
        settle_host_call(
            self.on_resolve, self.caller, self.root, result, exc, was_cancelled, self.cancelled
        )

    def on_done(self, result: Any, exc: BaseException | None, was_cancelled: bool) -> None:
        sched = self.sched
        sched.host_pending -= 1
        try:
            self.finished(result, exc, was_cancelled)
        finally:
            sched.run_ready()

    def cancel(self, _caller: Any = None) -> None:
        cancel_host_call(self)


class HostFunc(ComponentFunc):
    """A function implemented in Python, called with the lifted argument values.

    ``fn`` may be a coroutine function (``async def``; ``is_coroutine``): a
    call then runs it on the store's event loop as if it were its own asyncio
    task (:mod:`wasmloom.runtime.hostcoro`: its first step at once, the rest
    on a worker task), and the calling guest task blocks until it completes,
    while other tasks run.
    """

    __slots__ = ("classes", "fn", "is_coroutine", "name", "type")

    def __init__(
        self,
        ft: T.FuncType,
        fn: Callable[..., Any],
        name: str | None = None,
        classes: ClassMap | None = None,
        is_coroutine: bool | None = None,
    ) -> None:
        self.type = ft
        self.fn = fn
        self.name = name
        # Lowering this function into a guest lifts its arguments into these classes.
        self.classes = classes
        self.is_coroutine = (
            iscoroutinefunction(fn) if is_coroutine is None else is_coroutine
        )

    def call(self, args: list[Any], caller: ComponentInstance | None) -> Any:
        if self.is_coroutine:
            raise Trap(f"async host function `{self.name}` called synchronously")
        return self.fn(*args)

    def invoke(self, on_start: OnStart, on_resolve: OnResolve, caller: Any) -> OnCancel:
        if not self.is_coroutine:
            on_resolve(self.call(on_start(), caller))
            return no_cancel
        sched = instance_state(caller).sched if caller is not None else None
        if sched is None:
            raise Trap(f"async host function `{self.name}` called without a store")
        cur = sched.current
        root = cur.task.root if cur is not None else None
        coro = self.fn(*on_start())
        loop = asyncio._get_running_loop()
        if loop is not None:
            # On a running loop the first step runs now, on one of the store's
            # worker tasks (hostcoro): a host coroutine that finishes without
            # suspending resolves the call at once, as a synchronous host call
            # would. The worker running the rest completes the call itself and
            # runs the threads that made ready in line (no done-callback or
            # driver wake-up turn of the loop in between).
            from wasmloom.runtime import hostcoro  # asyncio runs: imported already

            h, value = hostcoro.start(sched, loop, coro)
            if h is None:
                on_resolve(value)
                return no_cancel
            sched.host_pending += 1
            call = _HostCall(sched, caller, root, on_resolve)
            call.handle = h
            h.on_done = call.on_done
            return call.cancel
        # Outside a running loop: a task of the store's own loop, which the
        # synchronous driver runs while it waits for host work.
        call = _HostCall(sched, caller, root, on_resolve)
        fut = sched.loop().create_task(coro)
        sched.host_pending += 1

        def done(f: Any) -> None:
            sched.host_pending -= 1
            try:
                if f.cancelled():
                    call.finished(None, None, True)
                else:
                    exc = f.exception()
                    call.finished(None if exc is not None else f.result(), exc, False)
            finally:
                # kick, not just notify: the calling task may have outlived its
                # host call (no driver waits for it any more).
                sched.kick()

        fut.add_done_callback(done)

        def cancel(_caller: Any = None) -> None:
            if not fut.done():
                call.cancelled = True
                fut.cancel()

        return cancel

    def __repr__(self) -> str:
        return f"<host func {self.name}: {self.type}>"
