"""Waiting for a socket to be readable or writable, on the running event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from wasmloom.host.streams import StreamResult
from wasmloom.wasi.p3.sockets.common import CANCELLED, PENDING

__all__: list[str] = []


class _FdWait:
    """One wait for ``fd`` to be readable (or writable), registered with the running loop.

    :meth:`close` removes the registration at once and only once, so a wait
    given up on (its socket about to be closed, the fd number reused) never
    removes a later registration of the same number.
    """

    __slots__ = ("closed", "fd", "loop", "write")

    def __init__(self, fd: int, write: bool) -> None:
        self.fd = fd
        self.write = write
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    async def run(self) -> None:
        if self.closed:
            return
        loop = self.loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def on_ready() -> None:
            if not fut.done():
                fut.set_result(None)

        (loop.add_writer if self.write else loop.add_reader)(self.fd, on_ready)
        try:
            await fut
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        loop = self.loop
        if loop is not None and not loop.is_closed():
            (loop.remove_writer if self.write else loop.remove_reader)(self.fd)


class _Waiter:
    """At most one readiness wait in flight for a producer or consumer, as a store task."""

    __slots__ = ("_store", "_task", "_wait")

    def __init__(self, store: Any) -> None:
        self._store = store
        self._task: asyncio.Task[None] | None = None
        self._wait: _FdWait | None = None

    def poll(self, finish: bool) -> StreamResult | None:
        """None when no wait is running (a finished one is forgotten); else the step's answer:
        PENDING, or CANCELLED (the wait cancelled) when ``finish``."""
        task = self._task
        if task is None:
            return None
        if task.done():
            self._task = self._wait = None
            return None
        if finish:
            self.cancel()
            return CANCELLED
        return PENDING

    def start(self, fd: int, write: bool, wake: Callable[[], None]) -> StreamResult:
        """Wait for ``fd`` in a store task that calls ``wake`` when done; answers PENDING."""
        w = self._wait = _FdWait(fd, write)
        task = self._task = self._store.spawn(w.run())
        task.add_done_callback(lambda _: wake())
        return PENDING

    def cancel(self) -> None:
        w, task = self._wait, self._task
        self._wait = self._task = None
        if w is not None:
            w.close()
        if task is not None and not task.done():
            task.cancel()
