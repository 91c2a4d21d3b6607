"""What the child hosts of :class:`~wasmloom.wasi.p3.host.WasiP3` use of it.

:mod:`.filesystem` and :mod:`.sockets` take this small protocol, not
``WasiP3``, so they import nothing of :mod:`.host`, which builds them.
"""

from __future__ import annotations

from typing import Any, Protocol

from wasmloom.host.store import Store
from wasmloom.wasi.ctx import WasiCtx

__all__ = ["WasiParent"]


class WasiParent(Protocol):
    """The WASI 0.3.0 host state a child host serves: its context and its store."""

    @property
    def ctx(self) -> WasiCtx: ...

    @property
    def store(self) -> Store[Any]: ...
