"""A minimal ``Accessor``: what an async host function reaches the store through.

Generated bindings pass one as the first argument of every ``async def``
host method. :meth:`Accessor.with_` runs a function with the store and the
implementation object the bindings' getter gives for the store's data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from wasmloom.host.store import Store

D = TypeVar("D")
H = TypeVar("H")
R = TypeVar("R")

__all__ = ["Accessor"]


class Accessor(Generic[D, H]):
    """Access to a store and, through ``getter``, to the host implementation object."""

    __slots__ = ("_getter", "_store")

    def __init__(self, store: Store[D], getter: Callable[[D], H]) -> None:
        self._store = store
        self._getter = getter

    def with_(self, fn: Callable[[Store[D], H], R]) -> R:
        """Run ``fn(store, getter(store.data))`` and return its result."""
        store = self._store
        return fn(store, self._getter(store.data))

    @property
    def store(self) -> Store[D]:
        return self._store

    def get(self) -> H:
        """The implementation object for the store's current data."""
        return self._getter(self._store.data)
