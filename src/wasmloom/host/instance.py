"""Instances and their exported functions, as the host sees them."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

from wasmloom import types as T
from wasmloom.errors import WasmloomError
from wasmloom.runtime.lift import ComponentFunc, LiftedFunc
from wasmloom.runtime.scheduler import Root
from wasmloom.runtime.scope import ComponentInstance, InstanceExports

if TYPE_CHECKING:
    from wasmloom.host.store import Store


class Func:
    """An exported component function, bound to the store it was instantiated in.

    Call it as ``func(store, *args)`` with one Python value per parameter; the
    result is the single result value, or ``None`` when the function has no
    result. A guest trap raises :class:`~wasmloom.Trap` naming the function.

    Calling an async function (or one whose instance may block) this way runs
    the store's event loop until the call completes; inside a running asyncio
    loop that raises :class:`~wasmloom.WasmloomError`: use :meth:`call_async`.
    """

    __slots__ = ("_call", "_fast", "_store", "_tasked", "component_func", "name")

    def __init__(self, store: Store[Any], f: ComponentFunc, name: str) -> None:
        self._store = store
        self.component_func = f
        self.name = name
        self._call = f.call
        self._fast = f if type(f) is LiftedFunc else None
        # Whether call_async goes through a task (decided on the first call_async).
        self._tasked: bool | None = None

    async def call_async(self, store: Store[Any], *args: Any) -> Any:
        """Call under asyncio: ``await func.call_async(store, *args)``.

        Other calls, async host functions and background work of the store run
        while this one waits. A guest trap (or an async host function's
        exception) raises here; the trapping instance is poisoned. If no
        progress is possible, raises :class:`~wasmloom.Trap` ('deadlock detected').
        """
        if store is not self._store:
            raise WasmloomError(f"function `{self.name}` called with a store it does not belong to")
        f = self._fast
        if f is None:
            g = self.component_func
            if isinstance(g, LiftedFunc):
                return await g.call_async(args)
            return g.call(list(args), None)
        tasked = self._tasked
        if tasked is None:
            tasked = self._tasked = f.needs_task
        if not tasked:
            return f.call_from_host(args)
        # LiftedFunc.call_async in line (one coroutine less per call).
        root = Root()
        f.start_from_host(args, root)
        if root.done:
            root.delivered = True
            if root.error is not None:
                raise root.error
            return root.result
        return await f.await_root(root)

    @property
    def type(self) -> T.FuncType:
        """The function's component type."""
        return self.component_func.type

    def __call__(self, store: Store[Any], *args: Any) -> Any:
        if store is not self._store:
            raise WasmloomError(f"function `{self.name}` called with a store it does not belong to")
        fast = self._fast
        if fast is not None:
            return fast.call_from_host(args)
        return self._call(list(args), None)

    def __repr__(self) -> str:
        return f"<Func {self.name}: {self.type}>"


_UNNAMED = T.ResourceType().name


def _name_resources(exports: InstanceExports) -> None:
    """Give each resource type a guest defines the name it is exported under (its first),
    so that types and messages say ``own<counter>``, not ``own<resource>``."""
    for name, item in exports.items():
        if isinstance(item, T.ResourceType):
            if item.impl is not None and item.name == _UNNAMED:
                item.name = name
        elif isinstance(item, InstanceExports):
            _name_resources(item)


class Instance:
    """A component instance: look up its exports with :meth:`get_func`/:meth:`get_export`."""

    def __init__(
        self, store: Store[Any], inst: ComponentInstance, exports: InstanceExports
    ) -> None:
        self._store = store
        self._inst = inst
        self.exports_map = exports
        _name_resources(exports)

    def get_export(self, *path: str) -> Any:
        """The export at ``path`` (nested instance export names), or ``None``."""
        item: Any = self.exports_map
        for name in path:
            if not isinstance(item, dict) or name not in item:
                return None
            item = item[name]
        return item

    def get_func(self, *path: str) -> Func | None:
        """The exported function at ``path``, e.g. ``get_func("add")`` or
        ``get_func("wasi:cli/run@0.2.0", "run")``; ``None`` if there is none."""
        if len(path) == 1:  # get_export of one name, in line
            item = self.exports_map.get(path[0])
        else:
            item = self.get_export(*path)
        if not isinstance(item, ComponentFunc):
            return None
        return Func(self._store, item, "/".join(path))

    def exports(self) -> list[str]:
        """The names of the instance's top-level exports, in order."""
        return list(self.exports_map)

    # A C getter: read per request by the HTTP server, with no Python frame.
    poisoned: bool = property(  # type: ignore[assignment]
        attrgetter("_inst.poisoned"),
        doc="Whether a trap poisoned the instance: it may not be entered again.",
    )
