"""How the runtime lifts and lowers stream, future and error-context values."""

from __future__ import annotations

from typing import Any

from wasmloom.runtime.builtins import (
    lift_async_value,
    lift_error_context,
    lower_async_value,
    lower_error_context,
)

__all__ = ["RuntimeAsyncValues"]


class RuntimeAsyncValues:
    """The runtime's :class:`~wasmloom.abi.context.AsyncValues`.

    A stream or future value is its shared state, which moves between handle
    tables as a readable end; an error context is itself. ``wrap`` and
    ``unwrap`` leave values as they are: a host that shows streams and futures
    its own way overrides them.
    """

    __slots__ = ()

    lift_async_value = staticmethod(lift_async_value)
    lower_async_value = staticmethod(lower_async_value)
    lift_error_context = staticmethod(lift_error_context)
    lower_error_context = staticmethod(lower_error_context)

    def wrap(self, cx: Any, v: Any, t: Any) -> Any:
        return v

    def unwrap(self, cx: Any, v: Any, t: Any) -> Any:
        return v
