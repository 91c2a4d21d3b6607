"""asyncio, imported when first used.

``import asyncio`` costs a command more than the rest of its start-up (it
brings ssl, socket, selectors, subprocess, concurrent.futures, logging,
inspect: about 0.7x the ``python -c "import wasmtime"`` floor with bytecode
cached, about the whole floor again without). A command that never waits on
host work needs none of it. The modules on the run path therefore say::

    if TYPE_CHECKING:
        import asyncio
    else:
        from wasmloom.aio import asyncio

and use ``asyncio.X`` as before. :data:`asyncio` stands for the module: the
first access to any attribute imports asyncio and returns the real attribute
(kept, so later accesses cost what they cost on the module), with two
exceptions while asyncio is not imported yet, when no event loop can be
running in this process:

- ``asyncio._get_running_loop`` is a function that returns ``None`` until
  asyncio is imported, and the running loop (or ``None``) after that;
- ``asyncio.get_running_loop`` is a function that raises :class:`RuntimeError`
  ("no running event loop") until asyncio is imported, and returns the
  running loop as asyncio's own does after that.

Neither is kept: once asyncio is imported, the next access returns asyncio's
own function.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ["asyncio"]


def _get_running_loop() -> Any:
    """asyncio's ``_get_running_loop``, without importing asyncio (None until it is)."""
    aio = sys.modules.get("asyncio")
    return None if aio is None else aio._get_running_loop()


def _get_running_loop_or_raise() -> Any:
    """asyncio's ``get_running_loop``, without importing asyncio (raises until it is)."""
    aio = sys.modules.get("asyncio")
    if aio is None:
        raise RuntimeError("no running event loop")
    return aio.get_running_loop()


_UNTIL_IMPORTED = {
    "_get_running_loop": _get_running_loop,
    "get_running_loop": _get_running_loop_or_raise,
}


class _LazyAsyncio(ModuleType):
    def __getattr__(self, name: str) -> Any:
        if "asyncio" not in sys.modules:
            early = _UNTIL_IMPORTED.get(name)
            if early is not None:
                return early
        import asyncio

        value = getattr(asyncio, name)
        self.__dict__[name] = value
        return value


#: Stands for the asyncio module (see the module doc).
asyncio: Any = _LazyAsyncio("asyncio")
