"""What the 0.2 ``wasi:http`` modules share: the event loop the I/O runs on, the stream
error of a failed body, and ``fields`` (the 0.3 :class:`~wasmloom.wasi.p3.http.Fields`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from wasmloom.values import Err
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wasi.p2.io import IoError
from wasmloom.wasi.p3 import http as wh

__all__ = ["Fields", "HttpIoError", "LoopBridge"]


R = TypeVar("R")


# --- the event loop the I/O runs on -------------------------------------------------------


class LoopBridge:
    """Runs coroutines on an asyncio loop for a guest's thread (a private loop when none is given)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="wasi-http-p2", daemon=True).start()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, R]) -> concurrent.futures.Future[R]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the loop and wait for it (never from the loop's own thread)."""
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("a blocking wasi:http 0.2 call on its own event loop's thread")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


class HttpIoError(IoError):
    """A stream ``error`` carrying the HTTP ``error-code`` behind it."""

    def __init__(self, code: Any) -> None:
        super().__init__(wh.error_label(code))
        self.http_code = code


def _stream_failed(code: Any) -> Err[Any]:
    return Err(streams.StreamErrorLastOperationFailed(HttpIoError(code)))


# --- fields ------------------------------------------------------------------------------


class Fields:
    """``fields``: the 0.3 :class:`~wasmloom.wasi.p3.http.Fields` under the 0.2 method names."""

    __slots__ = ("inner",)

    def __init__(self, inner: wh.Fields | None = None) -> None:
        self.inner = inner if inner is not None else wh.Fields()

    def get(self, name: str) -> list[bytes]:
        return self.inner.get(name)

    def has(self, name: str) -> bool:
        return self.inner.has(name)

    def set(self, name: str, value: list[bytes]) -> Any:
        return self.inner.set(name, value)

    def delete(self, name: str) -> Any:
        return self.inner.delete(name)

    def append(self, name: str, value: bytes) -> Any:
        return self.inner.append(name, value)

    def entries(self) -> list[tuple[str, bytes]]:
        return self.inner.copy_all()

    def clone(self) -> Fields:
        return Fields(self.inner.clone())


def _owned(headers: Fields) -> wh.Fields:
    """The entries of ``headers`` given to a message: immutable from now on."""
    inner = headers.inner
    inner.immutable = True
    return inner
