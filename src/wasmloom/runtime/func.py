"""Component functions: lifted guest functions and host functions.

A :class:`ComponentFunc` is what sits in a component's ``func`` index space.
Its :meth:`~ComponentFunc.call` takes and returns Python values (the value
mapping of :mod:`wasmloom.values`) and the calling component instance
(``None`` when the host calls). Lowering a function into a guest is
:func:`wasmloom.runtime.canon.lower`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wasmloom import types as T
from wasmloom.abi.context import CanonOptions, LiftLowerContext
from wasmloom.abi.funcabi import FuncABI
from wasmloom.errors import Trap
from wasmloom.runtime.handles import BorrowScope

if TYPE_CHECKING:
    from wasmloom.runtime.instance import ComponentInstance


class ComponentFunc:
    """A function of the component ``func`` sort."""

    type: T.FuncType
    name: str | None

    def call(self, args: list[Any], caller: ComponentInstance | None) -> Any:
        """Call with Python values; return the result value (``None`` if no result)."""
        raise NotImplementedError


class HostFunc(ComponentFunc):
    """A function implemented in Python, called with the lifted argument values."""

    __slots__ = ("fn", "name", "type")

    def __init__(self, ft: T.FuncType, fn: Callable[..., Any], name: str | None = None) -> None:
        self.type = ft
        self.fn = fn
        self.name = name

    def call(self, args: list[Any], caller: ComponentInstance | None) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<host func {self.name}: {self.type}>"


class LiftedFunc(ComponentFunc):
    """A core function lifted by ``canon lift`` in component instance ``inst``."""

    def __init__(
        self,
        inst: ComponentInstance,
        callee: Any,
        ft: T.FuncType,
        opts: CanonOptions,
        callback: Any = None,
    ) -> None:
        self.inst = inst
        self.callee = callee
        self.type = ft
        self.opts = opts
        self.callback = callback
        self.name: str | None = None
        self._abi: FuncABI | None = None
        self._core: Callable[..., Any] | None = None

    def __repr__(self) -> str:
        return f"<lifted func {self.name}: {self.type}>"

    def prepare(self) -> tuple[FuncABI, Callable[..., Any]]:
        """Derive the call plan once: the specialised ABI and the raw core caller."""
        if self._abi is None or self._core is None:
            if self.opts.is_async:
                raise Trap("async-lifted exports are not supported yet", self.name)
            self._abi = FuncABI(self.type, self.opts, "lift")
            self._core = self.callee.caller()
        return self._abi, self._core

    def call(self, args: list[Any], caller: ComponentInstance | None) -> Any:
        fabi, core_call = self.prepare()
        inst = self.inst
        entering = inst.entering_set(caller)
        for i in entering:
            if not i.may_enter:
                raise Trap("cannot enter component instance", self.name)
        for i in entering:
            i.may_enter = False
        try:
            scope = BorrowScope()
            cx = LiftLowerContext(self.opts, inst, scope, fused=caller is not None)
            flat = fabi.lower_params(cx, args)
            results = core_call(*flat)
            result = fabi.lift_results(cx, results)
            scope.exit()
            post_return = self.opts.post_return
            if post_return is not None:
                inst.may_leave = False
                try:
                    if results is None:
                        post_return()
                    elif isinstance(results, tuple):
                        post_return(*results)
                    else:
                        post_return(results)
                finally:
                    inst.may_leave = True
            return result
        except Trap as e:
            e.with_func(self.name or "<anonymous>")
            raise
        finally:
            for i in entering:
                i.may_enter = True
