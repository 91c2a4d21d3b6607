"""``Accessor``: how an async host function reaches its store across ``await``s.

An ``async def`` host function must not hold on to guest memory views or
other store internals across an ``await`` (the guest may grow memory or run
meanwhile). It holds an :class:`Accessor` instead and enters the store
through :meth:`Accessor.with_` for each synchronous piece of work; the
store and the data reached through the accessor's *getter* are valid inside
``fn`` and stay reachable after every ``await``.

Generated bindings pass an accessor as the first argument of every ``async
def`` host method. Hand-written host functions get one through
:func:`host_async`::

    async def fetch(acc: Accessor[Data, Data], url: str) -> str:
        body = await download(url)
        acc.with_(lambda store, data: data.log.append(url))
        return body

    linker.root().func_wrap("fetch", host_async(fetch), with_store=True)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import asyncio

    from wasmloom.host.store import Store
else:
    from wasmloom.aio import asyncio

D = TypeVar("D")
H = TypeVar("H")
H2 = TypeVar("H2")
R = TypeVar("R")

__all__ = ["Accessor", "host_async"]


def _identity(data: Any) -> Any:
    return data


class Accessor(Generic[D, H]):
    """Access to a store and, through ``getter``, to host data derived from ``store.data``."""

    __slots__ = ("_getter", "_store")

    def __init__(self, store: Store[D], getter: Callable[[D], H] = _identity) -> None:
        self._store = store
        self._getter = getter

    def with_(self, fn: Callable[[Store[D], H], R]) -> R:
        """Run ``fn(store, getter(store.data))`` now and return its result.

        ``fn`` is synchronous: it runs to completion with exclusive access to
        the store (no guest code runs meanwhile), so it may touch guest
        streams, resources and memory. Call ``with_`` again after an
        ``await`` rather than keeping what ``fn`` saw.
        """
        store = self._store
        return fn(store, self._getter(store.data))

    @property
    def store(self) -> Store[D]:
        return self._store

    def get(self) -> H:
        """The host data for the store's current data (``getter(store.data)``)."""
        return self._getter(self._store.data)

    def getter(self) -> Callable[[D], H]:
        """The getter from the store's data to this accessor's host data."""
        return self._getter

    def with_getter(self, other: Callable[[D], H2]) -> Accessor[D, H2]:
        """An accessor on the same store that reaches host data through ``other``."""
        return Accessor(self._store, other)

    def spawn(self, task: Coroutine[Any, Any, R]) -> asyncio.Task[R]:
        """Run ``task`` as background work on the store's event loop (``store.spawn``)."""
        return self._store.spawn(task)


def host_async(
    fn: Callable[..., Coroutine[Any, Any, Any]], getter: Callable[[Any], Any] = _identity
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """Adapt ``async def fn(accessor, *args)`` for ``func_wrap(..., with_store=True)``.

    The result is an ``async def (store, *args)`` that calls ``fn`` with an
    :class:`Accessor` on that store (reaching host data through ``getter``);
    ``fn``'s annotations (after the accessor) still type the import.
    """

    async def call(store: Any, *args: Any) -> Any:
        return await fn(Accessor(store, getter), *args)

    import inspect

    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params:
        raise TypeError("a host_async function takes the Accessor as its first parameter")
    store_param = inspect.Parameter("store", inspect.Parameter.POSITIONAL_ONLY)
    call.__signature__ = sig.replace(parameters=[store_param, *params[1:]])  # type: ignore[attr-defined]
    ann = dict(getattr(fn, "__annotations__", {}))
    ann.pop(params[0].name, None)
    call.__annotations__ = ann
    call.__wrapped__ = fn  # type: ignore[attr-defined]
    call.__name__ = getattr(fn, "__name__", "host_async")
    return call
