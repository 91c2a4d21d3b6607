"""Canonical options and the lift/lower context.

:class:`LiftLowerContext` carries what one lift or lower needs: the options
(string encoding, memory, realloc), the component instance (for its handle
table and ``may_leave`` flag) and the borrow scope of the call.

Memory access goes through ``cx.mv``, a writable ``memoryview`` of the linear
memory; every guest pointer is checked against it first
(:meth:`LiftLowerContext.check_range`, :meth:`~LiftLowerContext.check_alloc`).
Guest code may grow memory. A wasm memory never moves or shrinks (its
``stable`` is true), so a view taken earlier stays good for every byte it
covers: ``cx.mv`` is kept from call to call and re-derived (one ``data_size``
look-up) only when a range goes beyond it, so a call pays at most one
re-derivation, and none while the memory does not grow. A memory that may
move on growth (:class:`BytearrayMemory`) is re-fetched by
:meth:`LiftLowerContext.refresh` at the start of every lift/lower entry point
and after every ``realloc`` call; no other guest code runs while a value is
lifted or lowered.

The lift budget (``StoreLimits.lift_bytes``): one lift may read at most that
many bytes of strings and lists from guest memory, or, by default, as many as
the memory holds but no more than :data:`DEFAULT_LIFT_BYTES` (128 MiB, Wasmtime's
default hostcall fuel), so a value whose elements alias one another (60,000 list
entries all pointing at one string, or nested lists reusing one inner list,
10^12 bytes in 30 KB) cannot make the host allocate more than that, even from a
guest that grew its memory to 4 GiB. ``cx.lift_used`` counts the bytes of the lift in progress;
:meth:`LiftLowerContext.refresh`, which every lift entry point calls first,
starts a new lift. Every string and list lift adds its bytes, before reading
them, in line: ``used = cx.lift_used + nbytes``, then
:meth:`LiftLowerContext.check_lift_budget` only when ``used > cx.lift_cap`` (a
cached lower bound of the budget, so the common case is one comparison).

Streams, futures and error contexts live in handle tables as resources do,
but what they are belongs to the runtime: a context lifts and lowers them
through ``cx.async_values`` (an :class:`AsyncValues`), which it takes from its
instance's store when it is made.

Trap messages follow Wasmtime. Wasmtime words some checks differently when the
value crosses between two components (its fused adapters) than when it crosses
between a component and the host; ``fused=True`` selects the former.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from wasmloom.errors import Trap

if TYPE_CHECKING:  # what CanonOptions is, to the type checker
    from dataclasses import dataclass
else:  # and what makes it at run time: a dataclass without importing dataclasses
    from wasmloom.types import dataclass

__all__ = [
    "DEFAULT_LIFT_BYTES",
    "LIFT_LIMIT",
    "AsyncValues",
    "BytearrayMemory",
    "CanonOptions",
    "GuestMemory",
    "InstanceLike",
    "LiftLowerContext",
    "StringEncoding",
]

StringEncoding = Literal["utf8", "utf16", "latin1+utf16"]

#: The lift budget when ``StoreLimits.lift_bytes`` is unset (and the memory is larger).
DEFAULT_LIFT_BYTES = 128 << 20
#: The start of the lift budget's trap message (Wasmtime's words for its hostcall fuel).
LIFT_LIMIT = "too much data is being copied between the host and the guest"


class GuestMemory(Protocol):
    """A guest linear memory.

    ``view()`` returns a writable memoryview of the current full memory; it
    must be called again after any guest code ran, because memory may grow
    and move. ``ptr_type`` is ``'i32'``, or ``'i64'`` for memory64. A memory
    with a true ``stable`` attribute never moves or shrinks, so an earlier
    view stays valid for the bytes it covers (see the module docstring).
    """

    @property
    def ptr_type(self) -> str: ...

    def view(self) -> memoryview: ...


class InstanceLike(Protocol):
    """What the ABI needs of a component instance.

    ``realloc_storage``: the context-local storage (``context.get``/``set``) of
    the ``realloc`` call running in the instance, else None (see
    :meth:`LiftLowerContext.reallocate`). An instance whose ``conc`` has a
    ``ctx`` (the runtime's wasm context slots) runs a realloc through
    ``ctx.call_fresh(realloc, *args)``.
    """

    handles: Any  # wasmloom.abi.handles.Table
    may_leave: bool
    realloc_storage: list[int] | None


class BytearrayMemory:
    """A :class:`GuestMemory` backed by a ``bytearray`` (for tests and host buffers).

    :meth:`grow` replaces the buffer, so stale views keep seeing the old bytes,
    just as a moved wasm memory would.
    """

    PAGE = 65536

    def __init__(self, size: int = 65536, ptr_type: str = "i32") -> None:
        self.data = bytearray(size)
        self.ptr_type = ptr_type

    def view(self) -> memoryview:
        return memoryview(self.data)

    def grow(self, nbytes: int) -> int:
        """Grow by ``nbytes``; return the old size."""
        old = len(self.data)
        self.data = self.data + bytearray(nbytes)
        return old


class AsyncValues(Protocol):
    """How stream, future and error-context values lift and lower (the values a handle
    table holds beside resources).

    The runtime implements it
    (:class:`wasmloom.runtime.async_values.RuntimeAsyncValues`) and a host layers
    its own ``wrap``/``unwrap`` on it; a store carries one
    (``CoreStore.async_values``), which every :class:`LiftLowerContext` made for
    an instance of the store takes. ``t`` is the value's type; ``cx`` the context.
    """

    def lift_async_value(self, cx: Any, i: int, t: Any) -> Any:
        """The stream or future at handle ``i`` of ``cx.inst``, taken out of its table."""
        ...

    def lower_async_value(self, cx: Any, v: Any, t: Any) -> int:
        """Add the stream or future ``v`` to ``cx.inst``'s table; return its handle."""
        ...

    def lift_error_context(self, cx: Any, i: int, t: Any) -> Any:
        """The error context at handle ``i`` of ``cx.inst``."""
        ...

    def lower_error_context(self, cx: Any, v: Any, t: Any) -> int:
        """Add the error context ``v`` to ``cx.inst``'s table; return its handle."""
        ...

    def wrap(self, cx: Any, v: Any, t: Any) -> Any:
        """A lifted stream or future as the host sees it (applied unless ``cx.fused``)."""
        ...

    def unwrap(self, cx: Any, v: Any, t: Any) -> Any:
        """What the host passed for a stream or future, as :meth:`lower_async_value` takes
        it (applied to every stream or future lowered)."""
        ...


@dataclass(eq=False, slots=True)
class CanonOptions:
    """The canonical options of one ``canon lift``/``canon lower``.

    ``realloc(old_ptr, old_size, align, new_size) -> ptr`` calls the guest's
    realloc; ``post_return`` and ``callback`` are opaque to the ABI layer.
    """

    string_encoding: StringEncoding = "utf8"
    memory: GuestMemory | None = None
    realloc: Callable[[int, int, int, int], int] | None = None
    post_return: Callable[..., Any] | None = None
    is_async: bool = False
    callback: Callable[..., Any] | None = None

    @property
    def ptr_type(self) -> str:
        return "i32" if self.memory is None else self.memory.ptr_type


class LiftLowerContext:
    """The state of one lift or lower: options, instance, borrow scope, memory view."""

    __slots__ = (
        "async_values",
        "borrow_scope",
        "fused",
        "inst",
        "lift_cap",
        "lift_used",
        "memory",
        "mv",
        "opts",
        "ptr_mask",
        "ptr_type",
        "realloc",
        "stable",
        "string_encoding",
        "taken",
    )

    def __init__(
        self,
        opts: CanonOptions,
        inst: Any,
        borrow_scope: Any = None,
        *,
        fused: bool = False,
    ) -> None:
        self.opts = opts
        self.inst = inst
        self.borrow_scope = borrow_scope
        self.fused = fused
        self.memory = opts.memory
        self.realloc = opts.realloc
        self.string_encoding = opts.string_encoding
        self.ptr_type = "i32" if opts.memory is None else opts.memory.ptr_type
        self.ptr_mask = 0xFFFF_FFFF if self.ptr_type == "i32" else 0xFFFF_FFFF_FFFF_FFFF
        self.mv: memoryview = _NO_MEMORY
        #: The memory never moves (or there is none): ``cx.mv`` is re-derived only when a
        #: range goes beyond it, and :meth:`refresh` only resets the lift budget's count.
        self.stable = opts.memory is None or bool(getattr(opts.memory, "stable", False))
        # Bytes the current lift has read, and a lower bound of its budget (the
        # budget itself is looked up only when this bound is exceeded).
        self.lift_used = 0
        self.lift_cap = 0
        #: When a list, lowering a host's stream/future object records it here as
        #: ``(obj, t_before)`` (``t_before``: its element type before), so a failed
        #: lowering can give it back.
        self.taken: list[tuple[Any, Any]] | None = None
        #: How streams, futures and error contexts lift and lower: the instance's store's.
        try:
            self.async_values: AsyncValues | None = inst.store.async_values
        except AttributeError:  # no instance, or one outside any store
            self.async_values = None

    def refresh(self) -> memoryview:
        """Make ``cx.mv`` good for a lift or lower after guest code ran; return it.

        Also starts a new lift: the lift budget's count starts again at zero.
        For a stable memory the view is kept (the checks re-derive it when a
        range goes beyond it, see :meth:`current_view`); otherwise it is
        re-fetched.
        """
        self.lift_used = 0
        if self.stable:
            return self.mv
        mem = self.memory
        if mem is not None:
            self.mv = mem.view()
        return self.mv

    def current_view(self) -> memoryview:
        """Re-derive ``cx.mv`` from the memory as it is now (it may have grown); return it."""
        mem = self.memory
        if mem is not None:
            self.mv = mem.view()
        return self.mv

    def check_lift_budget(self, used: int) -> None:
        """Trap if a lift that read ``used`` bytes exceeds the budget; else cache the budget.

        The budget is the store's ``StoreLimits.lift_bytes``, or when that is
        unset the current size of the memory read, at most
        :data:`DEFAULT_LIFT_BYTES` (memories only grow, so a cached size is a
        lower bound of the current one).
        """
        limits = getattr(getattr(self.inst, "store", None), "limits", None)
        limit = getattr(limits, "lift_bytes", None)
        if limit is None and used > len(self.mv) and self.stable:
            self.current_view()  # a kept view may be shorter than the memory now
        cap = min(len(self.mv), DEFAULT_LIFT_BYTES) if limit is None else limit
        self.lift_cap = cap
        if used > cap:
            raise Trap(f"{LIFT_LIMIT}: lifted value exceeds {cap} bytes (lift limit)")

    def reallocate(self, old: int, old_size: int, align: int, new_size: int) -> int:
        """Call the guest's realloc with ``may_leave`` cleared; return the (unchecked) pointer.

        As the spec calls it, realloc runs as a task of its own: with fresh,
        zeroed context-local storage (``inst.realloc_storage``, which the
        ``context.*`` built-ins read first), dropped when it returns, so the
        slots of the task it allocates for are neither seen nor changed. The
        memory view is refreshed afterwards.
        """
        realloc = self.realloc
        if realloc is None:
            raise Trap("canonical option `realloc` is required")
        inst = self.inst
        if inst is not None:
            if not inst.may_leave:
                raise Trap("cannot leave component instance")
            inst.may_leave = False
            inst.realloc_storage = [0, 0]
            # The runtime's wasm context slots (wasmloom.runtime.context_slots.ContextSlots),
            # if the instance has them: fresh for the realloc, then put back.
            st = getattr(inst, "conc", None)
            ctx = st.ctx if st is not None else None
            try:
                if ctx is None:
                    ptr = realloc(old, old_size, align, new_size)
                else:
                    ptr = ctx.call_fresh(realloc, old, old_size, align, new_size)
            finally:
                inst.may_leave = True
                inst.realloc_storage = None
        else:
            ptr = realloc(old, old_size, align, new_size)
        self.lift_used = 0  # self.refresh(), in line
        if not self.stable:
            self.refresh()
        return int(ptr) & self.ptr_mask

    def allocate(self, align: int, size: int) -> int:
        return self.reallocate(0, 0, align, size)

    # --- checks, with Wasmtime's wording ------------------------------------------

    def check_alloc(self, ptr: int, align: int, size: int, what: str) -> None:
        """Check a pointer realloc returned for ``size`` bytes of ``what`` ('string', 'list', 'value')."""
        if ptr & (align - 1):
            raise Trap(
                "wasm trap: unaligned pointer"
                if self.fused
                else "realloc return: result not aligned"
            )
        if ptr + size > len(self.mv) and ptr + size > len(self.current_view()):
            if self.fused:
                raise Trap(_FUSED_OOB[what])
            raise Trap("realloc return: beyond end of memory")

    def check_range(self, ptr: int, align: int, size: int, what: str) -> None:
        """Check a guest-supplied pointer to ``size`` bytes of ``what`` before reading it."""
        if ptr & (align - 1):
            if self.fused:
                raise Trap("wasm trap: unaligned pointer")
            if what == "string":
                raise Trap(f"string pointer not aligned to {align}")
            raise Trap("unaligned pointer")
        if ptr + size > len(self.mv) and ptr + size > len(self.current_view()):
            raise Trap(_FUSED_OOB[what] if self.fused else _HOST_OOB[what])


_NO_MEMORY = memoryview(bytearray())  # writable, so an empty view of no memory is one too

# Wasmtime's adapters raise trap codes, displayed with a "wasm trap: " prefix.
_FUSED_OOB = {
    "string": "wasm trap: string content out-of-bounds",
    "list": "wasm trap: list content out-of-bounds",
    "value": "wasm trap: out of bounds memory access",
}
_HOST_OOB = {
    "string": "string pointer/length out of bounds of memory",
    "list": "list pointer/length out of bounds of memory",
    "value": "pointer out of bounds of memory",
}
