"""The store: the unit of isolation that owns every instance and its host data."""

from __future__ import annotations

from typing import Generic, TypeVar

from wasmloom import core

D = TypeVar("D")


class Store(Generic[D]):
    """Owns component instances and carries user data, ``store.data``.

    Everything instantiated in a store lives as long as the store. A store is
    not thread-safe: use it from one thread (its event loop's, once async
    calls are involved).
    """

    def __init__(self, engine: core.Engine | None = None, data: D = None) -> None:  # type: ignore[assignment]
        self.engine = engine if engine is not None else core.default_engine()
        self.data: D = data
        self._core = core.CoreStore(self.engine)

    @property
    def core(self) -> core.CoreStore:
        """The underlying core store (for wasmloom's runtime layers)."""
        return self._core
